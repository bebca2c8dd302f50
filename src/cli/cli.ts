/** The `datum-provider` commands (main.ts is the executable); see HELP. */
import { parseArgs } from 'node:util';
import { type BackendFactory, registerBackend } from '../backends/registry.ts';
import {
  defaultCellSettings,
  defaultSettings,
  type Generation,
  loadSettings,
  SettingsError,
  validateSettings,
} from '../datum/settings.ts';
import { noteEarlySignals } from './early-signals.ts';

const HELP = `Usage: datum-provider <command> [flags]

Commands:
  run      Run the provider. Without --kubeconfig or --settings, starts a complete local environment.
  status   Show every Instance with its conditions, grouped by Workload.
  plan     Print what the provider would do on the platform per Instance (create, update, delete, nothing),
           without doing it: plan --kubeconfig PATH [--settings FILE] [--backend NAME] [--namespace NS --name N]
           [--project NAME] [--output table|json] [--exit-code]. Milo discovery: every Ready project, each
           with its own ProviderConfig (--project: one). --exit-code: 2 when any change is pending.
  scaffold Create a new backend package: scaffold --name <platform> [--dir <repo root>].
  manifests Print the CRDs and RBAC this version needs (--crds or --rbac for one part), for kubectl apply or diff.
  runtimeclass  Print the RuntimeClass (cell generation) for the configured backend:
           runtimeclass [--settings FILE] [--backend NAME] [--runtime-class NAME].
  init     Create a provider project of your own: init <dir> --backend <name> [--name <npm name>] [--kit <spec>].
  create   In such a project, add a backend: create backend <name> [--dir <project>].

run flags:
  --kubeconfig PATH        Project cluster (single discovery mode). Default: the embedded environment.
  --context NAME           kubeconfig context of the project cluster (default: current-context; with
                           $KUBECONFIG's files merged as kubectl merges them).
  --settings FILE          ProviderSettings file (apiVersion infra.provider-ts.io/v1alpha1).
  --backend NAME           a registered backend: built in (inmemory, aws, …) or a provider project's own
                           (overrides the settings file).
  --location-class NAME    Serve Locations of this class (overrides the settings file).
  --generation classic|cell  Which Datum generation to speak (default classic; overrides the settings file).
                           Embedded mode with cell: a cell-style environment with examples/cell/.
  --runtime-class NAME     Cell generation: the RuntimeClass served (overrides the settings file).
  --metrics-addr HOST:PORT Serve Prometheus metrics.   --probe-addr HOST:PORT  Serve /healthz and /readyz.
  --leader-elect           Enable leader election (Lease in the home cluster).
  --no-examples            Embedded mode: do not apply examples/.
  --upstream real|standalone  Embedded mode: which Datum operators to run (default real, falling back).
  --data-dir DIR           Embedded mode: where to keep control-plane data (default ./.datum-local).
status flags:
  --kubeconfig PATH        Cluster to read (default: $KUBECONFIG or ~/.kube/config).
  --context NAME           kubeconfig context to use (default: current-context).
`;

export interface CliOptions {
  /** Backends of a provider project, by name, next to the built-in ones (see `registerBackend`). */
  backends?: Record<string, BackendFactory>;
}

/** The `datum-provider` command line; a provider project's own `main.ts` calls it with its backends. */
export async function runCli(argv: string[], opts: CliOptions = {}): Promise<number> {
  for (const [name, factory] of Object.entries(opts.backends ?? {})) registerBackend(name, factory);
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command ? 0 : 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: command === 'init' || command === 'create',
    options: {
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      settings: { type: 'string' },
      backend: { type: 'string' },
      'location-class': { type: 'string' },
      generation: { type: 'string' },
      'runtime-class': { type: 'string' },
      'metrics-addr': { type: 'string' },
      'probe-addr': { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'no-examples': { type: 'boolean' },
      upstream: { type: 'string' },
      'data-dir': { type: 'string' },
      name: { type: 'string' },
      namespace: { type: 'string' },
      dir: { type: 'string' },
      crds: { type: 'boolean' },
      kit: { type: 'string' },
      rbac: { type: 'boolean' },
      project: { type: 'string' },
      output: { type: 'string', short: 'o' },
      'exit-code': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === 'status') {
    const { statusCommand } = await import('./status.ts');
    return statusCommand(values.kubeconfig, values.context);
  }
  if (command === 'scaffold') {
    if (!values.name) throw new SettingsError('scaffold needs --name <platform>');
    const { scaffold } = await import('./scaffold.ts');
    for (const f of scaffold(values.name, values.dir)) process.stdout.write(`created ${f}\n`);
    return 0;
  }
  if (command === 'init') {
    const [dir] = positionals;
    if (!dir || !values.backend)
      throw new SettingsError('init needs a folder and --backend <name>: init my-provider --backend acme');
    const { initProject } = await import('./init/init.ts');
    const files = initProject(dir, { backend: values.backend, name: values.name, kit: values.kit });
    process.stdout.write(`created ${files.length} files in ${dir}\nnext: cd ${dir} && make test\n`);
    return 0;
  }
  if (command === 'create') {
    const [what, name] = positionals;
    if (what !== 'backend' || !name)
      throw new SettingsError('usage: create backend <name> [--dir <project>]');
    const { createBackendInProject } = await import('./init/init.ts');
    for (const f of createBackendInProject(values.dir ?? '.', name)) process.stdout.write(`created ${f}\n`);
    return 0;
  }
  if (command === 'manifests') {
    const { manifests } = await import('./manifests.ts');
    const both = !values.crds && !values.rbac;
    process.stdout.write(manifests({ crds: both || !!values.crds, rbac: both || !!values.rbac }));
    return 0;
  }
  if (command !== 'run' && command !== 'runtimeclass' && command !== 'plan') {
    process.stderr.write(`unknown command '${command}'\n\n${HELP}`);
    return 2;
  }
  const settings = values.settings ? loadSettings(values.settings) : defaultSettings();
  if (values.backend) settings.backend = values.backend;
  if (values.generation) settings.generation = values.generation as Generation;
  if (values['runtime-class'])
    settings.cell = { ...(settings.cell ?? defaultCellSettings()), runtimeClass: values['runtime-class'] };
  if (command === 'runtimeclass') {
    if (process.env.DATUM_BACKEND_CONFIG)
      Object.assign(settings.backendConfig, JSON.parse(process.env.DATUM_BACKEND_CONFIG));
    validateSettings(settings, 'flags');
    const { runtimeClassYaml } = await import('./runtimeclass.ts');
    process.stdout.write(await runtimeClassYaml(settings));
    return 0;
  }
  if (values['location-class']) settings.locationClassName = values['location-class'];
  if (command === 'plan') {
    if (process.env.DATUM_BACKEND_CONFIG)
      Object.assign(settings.backendConfig, JSON.parse(process.env.DATUM_BACKEND_CONFIG));
    validateSettings(settings, 'flags');
    const { planCommand } = await import('./plan.ts');
    return planCommand(settings, {
      kubeconfig: values.kubeconfig,
      context: values.context,
      namespace: values.namespace,
      name: values.name,
      project: values.project,
      output: values.output,
      exitCode: values['exit-code'],
    });
  }
  if (values['location-class']) settings.locationClassName = values['location-class'];
  if (values['metrics-addr']) settings.metricsBindAddress = values['metrics-addr'];
  if (values['probe-addr']) settings.healthProbeBindAddress = values['probe-addr'];
  if (values['leader-elect']) settings.leaderElection.enabled = true;
  if (process.env.DATUM_BACKEND_CONFIG)
    Object.assign(settings.backendConfig, JSON.parse(process.env.DATUM_BACKEND_CONFIG));
  validateSettings(settings, 'flags');
  if (values.kubeconfig || values.settings || values.context) {
    const early = noteEarlySignals();
    const { startProvider } = await import('./provider.ts');
    const running = await startProvider(settings, {
      kubeconfig: values.kubeconfig,
      context: values.context,
      early,
    });
    return (await running.stopped) ? 0 : 1;
  }
  const { runEmbedded } = await import('../localenv/environment.ts');
  return runEmbedded(settings, {
    examples: !values['no-examples'],
    upstream: (values.upstream as 'real' | 'standalone' | undefined) ?? 'auto',
    backend: values.backend ?? 'auto',
    dataDir: values['data-dir'] ?? '.datum-local',
  });
}

/** Runs the command line and exits with its code; errors users can fix print one line, others a stack. */
export function runCliAndExit(argv: string[], opts: CliOptions = {}): void {
  runCli(argv, opts).then(
    (code) => process.exit(code),
    (err) => {
      const known =
        err instanceof SettingsError ||
        err?.name === 'KubeconfigError' ||
        err?.name === 'ExecCredentialError' ||
        (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
      process.stderr.write(`error: ${known ? err.message : (err?.stack ?? err)}\n`);
      // plan --exit-code reserves 2 for "changes pending" (Terraform's -detailed-exitcode): a failure is 1.
      process.exit(argv[0] === 'plan' && argv.includes('--exit-code') ? 1 : 2);
    },
  );
}
