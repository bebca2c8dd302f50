/**
 * The chaos suite (test/chaos/): provider kills, API server and platform faults, bad input and a secret
 * scan, against a real control plane with the in-memory backend and the AWS backend on moto.
 *   node scripts/chaos.ts [--quick] [--backend inmemory,aws] [--scenario kill-storm,...] [--seed N]
 * Progress goes to stderr; stdout gets one line:
 *   chaos: kills=N duplicates=D orphans=O leaked_secrets=S invalid=I crashed=C
 * Exits non-zero when D, O, S or C is not 0 or any other check failed.
 */
import { chaosConfig } from '../test/chaos/config.ts';
import { runChaos } from '../test/chaos/run.ts';

const stats = await runChaos(chaosConfig(process.argv.slice(2)));
stats.report();
process.stdout.write(`${stats.summary()}\n`);
process.exit(stats.ok() ? 0 : 1);
