/**
 * Runs a local EC2 emulator (moto + fault proxy) until Ctrl-C:
 *   ./node_modules/.bin/node src/localenv/emulators/moto/cli.ts [--port-file FILE]
 * Prints the endpoint to use as the AWS backend's `endpoint` (or AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_SSM).
 */
import { writeFileSync } from 'node:fs';
import { startEc2Emulator } from './emulator.ts';

const portFileAt = process.argv.indexOf('--port-file');
const emu = await startEc2Emulator({ log: (m) => process.stderr.write(`[moto] ${m}\n`) });
process.stdout.write(`EC2 emulator ready: endpoint=${emu.endpoint} (moto at ${emu.motoEndpoint})\n`);
if (portFileAt > 0 && process.argv[portFileAt + 1])
  writeFileSync(process.argv[portFileAt + 1]!, emu.endpoint);
const stop = async () => {
  await emu.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
setInterval(() => {}, 1 << 30);
