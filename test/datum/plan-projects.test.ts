/**
 * `datum-provider plan` in Milo mode, run as a process against real kube-apiservers: it plans every project
 * discovery engages (Ready; a Project not Ready is never asked), each as the provider would serve it — under its
 * own project name (the ProviderConfig mapped to proj-a serves only proj-a: planned as anything else, A's
 * converged Instance would be refused, not "nothing to do") and with its own ProviderConfig: B's Instance in a
 * Location whose city code selects A's ProviderConfig is a refusal line, and so is B's Instance once B labels
 * its own Project with A's ProviderConfig (the label is read from the Project). `--project` plans one project,
 * `--output json` gives one object per Instance, `--exit-code` exits 2 when a change is pending, 0 when none.
 *
 * Economy: project A's control plane is also the discovery and home cluster; project B has its own. The
 * provider (in this process) converges A's Instance into the in-memory backend's state file, which the plan
 * process reads.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { INSTANCE } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { PROJECT_PROVIDER_CONFIG_LABEL } from '../../src/datum/project-providerconfig.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { instanceId } from '../../src/datum/reconcilers/instance-desired.ts';
import { PAUSED_ANNOTATION, PAUSED_CONDITION } from '../../src/datum/reconcilers/pause.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { MiloDiscovery, PROJECT } from '../../src/runtime/multicluster/providers.ts';
import { instanceObject, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually } from '../../src/testkit/contract/suite.ts';
import type { ControlPlane } from '../../src/testkit/index.ts';
import type { MiloProxy } from '../runtime/fixtures/milo-proxy.ts';
import { createProject, startTwoTenants, type TwoTenants } from './two-tenants.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const CLASS = defaultSettings().locationClassName;
const TOKEN = { a: 'plan-token-of-a-5d1e', b: 'plan-token-of-b-c07a' };
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('datum-provider plan (Milo mode): every project with its own ProviderConfig', () => {
  let tenants: TwoTenants | undefined;
  let home: ControlPlane; // discovery + home + project A
  let cpB: ControlPlane;
  let milo: MiloProxy;
  let mgr: Manager;
  const dir = mkdtempSync(join(tmpdir(), 'plan-projects-'));
  const stateFile = join(dir, 'state.json');
  const settingsFile = join(dir, 'settings.yaml');
  const backend = new InMemoryBackend({ latencyMs: 2, stateFile });
  const settings = {
    ...defaultSettings(),
    defaultProviderConfig: 'tenant-b',
    projectProviderConfigs: { 'proj-a': 'tenant-a' },
    sweepIntervalSeconds: 3600,
  };

  const plan = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [MAIN, 'plan', '--settings', settingsFile, ...args],
        { env: { ...process.env, DATUM_BACKEND_CONFIG: JSON.stringify({ stateFile }) }, timeout: 30_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
  const paused = (c: HttpClient, name: string, ns: string, loc: string) => {
    const o = instanceObject({ name, namespace: ns, location: { name: loc, namespace: ns } });
    o.metadata.annotations = { ...o.metadata.annotations, [PAUSED_ANNOTATION]: 'true' };
    return c.create<Instance>(INSTANCE, o);
  };

  before(async () => {
    tenants = await startTwoTenants(TOKEN);
    ({ home, cpB, milo } = tenants);
    const h = home.client();
    const discoveryKubeconfig = join(dir, 'milo.kubeconfig');
    writeFileSync(
      discoveryKubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'milo', cluster: { server: milo.server } }],
        users: [{ name: 'milo', user: {} }],
        contexts: [{ name: 'milo', context: { cluster: 'milo', user: 'milo' } }],
        'current-context': 'milo',
      }),
    );
    writeFileSync(
      settingsFile,
      JSON.stringify({
        apiVersion: 'infra.provider-ts.io/v1alpha1',
        kind: 'ProviderSettings',
        backend: 'inmemory',
        discovery: { mode: 'milo', discoveryKubeconfig },
        homeKubeconfig: home.kubeconfigPath,
        defaultProviderConfig: settings.defaultProviderConfig,
        projectProviderConfigs: settings.projectProviderConfigs,
      }),
    );
    mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    registerProvider(mgr, { backend, settings, home: h });
    mgr.add(new MiloDiscovery(mgr, { discovery: { server: milo.server } }));
    await mgr.start();
    // proj-c never becomes Ready: neither discovery nor plan may reach for it.
    for (const name of ['proj-a', 'proj-b', 'proj-c']) await createProject(h, name, name !== 'proj-c');

    const a = home.client();
    const b = cpB.client();
    await seedProject(a, 'work', { name: 'dfw', className: CLASS, city: 'DFW' });
    await seedProject(b, 'work', { name: 'lhr', className: CLASS, city: 'LHR' });
    await seedProject(b, 'edge', { name: 'dfw', className: CLASS, city: 'DFW' });
    await a.create(
      INSTANCE,
      instanceObject({ name: 'web', namespace: 'work', location: { name: 'dfw', namespace: 'work' } }),
    );
    await paused(a, 'pending', 'work', 'dfw');
    await paused(b, 'web', 'work', 'lhr');
    await b.create(
      INSTANCE,
      instanceObject({ name: 'web', namespace: 'edge', location: { name: 'dfw', namespace: 'edge' } }),
    );
    await eventually(
      async () => condOf(await a.get(INSTANCE, 'web', 'work'), 'Programmed')?.status === 'True',
      "A's work/web programmed",
    );
    for (const [c, name, ns] of [
      [a, 'pending', 'work'],
      [b, 'web', 'work'],
    ] as const)
      await eventually(
        async () => condOf(await c.get(INSTANCE, name, ns), PAUSED_CONDITION)?.status === 'True',
        `${ns}/${name} held by pause`,
      );
  });

  after(async () => {
    await mgr?.stop();
    await tenants?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plans every Ready project as the provider serves it, a refused ProviderConfig as a refusal', async () => {
    const r = await plan();
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^Instance work\/web in project proj-a: nothing to do$/m);
    assert.match(out, /^Instance work\/pending in project proj-a: create$/m);
    assert.match(out, /^Instance work\/web in project proj-b: create$/m);
    assert.match(
      out,
      /^Instance edge\/web in project proj-b: refused\n {4}ProviderConfigNotPermitted: ProviderConfig tenant-a \(selected by city code DFW\) does not serve project proj-b/m,
    );
    assert.equal(out.split('\n').filter((l) => l.startsWith('Instance ')).length, 4, out);
    assert.doesNotMatch(out, /proj-c/);
    assert.deepEqual(milo.unknown, [], 'plan asked for no project discovery would not engage');
    for (const t of Object.values(TOKEN))
      assert.ok(!out.includes(t) && !r.stderr.includes(t), 'no credential');
    // Plan wrote nothing: the held Instance still has no platform instance in the state file.
    const pending = await home.client().get<Instance>(INSTANCE, 'pending', 'work');
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { instances: Record<string, unknown> };
    assert.equal(state.instances[instanceId(pending)], undefined, 'plan created nothing');
  });

  it('--project, --output json and --exit-code', async () => {
    const r = await plan('--project', 'proj-b', '--output', 'json', '--exit-code');
    assert.equal(r.code, 2, `a change is pending: ${r.stderr}`);
    const lines = JSON.parse(r.stdout) as {
      cluster: string;
      namespace: string;
      name: string;
      action: string;
      details: string[];
    }[];
    assert.deepEqual(lines.map((l) => [l.cluster, l.namespace, l.name, l.action]).sort(), [
      ['proj-b', 'edge', 'web', 'refused'],
      ['proj-b', 'work', 'web', 'create'],
    ]);
    assert.match(lines.find((l) => l.action === 'refused')!.details[0]!, /^ProviderConfigNotPermitted: /);
    const none = await plan('--project', 'proj-a', '--namespace', 'work', '--name', 'web', '--exit-code');
    assert.deepEqual([none.code, none.stdout], [0, 'Instance work/web in project proj-a: nothing to do\n']);
    const unknown = await plan('--project', 'proj-c');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /project proj-c is not one discovery engages/);
    // With --exit-code, 2 means "changes pending" only: a failure (here a bad flag) exits 1.
    const bad = await plan('--output', 'yaml', '--exit-code');
    assert.deepEqual([bad.code, bad.stderr], [1, "error: --output must be table or json, not 'yaml'\n"]);
  });

  it("reads a project's ProviderConfig label from its Project: B labelling itself with A's is refused", async () => {
    await home.client().patch(PROJECT, 'proj-b', undefined, {
      type: 'merge',
      patch: { metadata: { labels: { [PROJECT_PROVIDER_CONFIG_LABEL]: 'tenant-a' } } },
    });
    const r = await plan('--project', 'proj-b', '--namespace', 'work', '--name', 'web');
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Instance work\/web in project proj-b: refused\n {4}ProviderConfigNotPermitted: ProviderConfig tenant-a \(selected by the label infra\.provider-ts\.io\/provider-config on Project proj-b\) does not serve project proj-b/,
    );
  });
});
