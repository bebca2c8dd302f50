/**
 * The command line as a library, the package's `datum-provider-ts/cli` entry: a provider project's own
 * `main.ts` runs it with its backends (`runCliAndExit(argv, { backends })`).
 */
export { type BackendFactory, backendNames, createBackend, registerBackend } from '../backends/registry.ts';
export { type CliOptions, runCli, runCliAndExit } from './cli.ts';
