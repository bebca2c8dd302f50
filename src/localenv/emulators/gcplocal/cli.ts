/**
 * Runs a local Compute Engine emulator (gcplocal + our proxy) until Ctrl-C:
 *   ./node_modules/.bin/node src/localenv/emulators/gcplocal/cli.ts [--port-file FILE]
 * Prints the endpoint to use as the GCP backend's `endpoint`.
 */
import { writeFileSync } from 'node:fs';
import { startGceEmulator } from './emulator.ts';

const portFileAt = process.argv.indexOf('--port-file');
const emu = await startGceEmulator({ log: (m) => process.stderr.write(`[gcplocal] ${m}\n`) });
process.stdout.write(
  `GCE emulator ready: endpoint=${emu.endpoint} project=${emu.project} (gcplocal at ${emu.gcplocalEndpoint})\n`,
);
if (portFileAt > 0 && process.argv[portFileAt + 1])
  writeFileSync(process.argv[portFileAt + 1]!, emu.endpoint);
const stop = async () => {
  await emu.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
setInterval(() => {}, 1 << 30);
