/**
 * The contract suite for the cell generation: the provider inside a cell (one control plane with the cell
 * CRDs), playing compute's cell part by hand. Same handle as the classic suite; chosen by
 * `runContractSuite({ generation: 'cell', ... })`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { CellInstance, RuntimeClass } from '../../datum/api/cell-types.ts';
import { INSTANCE, NAMESPACE, RUNTIME_CLASS } from '../../datum/api/resources.ts';
import { runtimeClassFor } from '../../datum/cell-runtimeclass.ts';
import { planInstances } from '../../datum/plan.ts';
import { type Provider, registerProvider } from '../../datum/provider.ts';
import { PROVIDER_CONFIG } from '../../datum/providerconfig.ts';
import { defaultCellSettings, defaultSettings, type ProviderSettings } from '../../datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../localenv/controlplane.ts';
import { isNotFound } from '../../runtime/client/errors.ts';
import { createLogger } from '../../runtime/log/logger.ts';
import { Manager } from '../../runtime/manager/manager.ts';
import { controlsTest } from './adopt.ts';
import {
  CELL_INSTANCE_TYPE,
  cellInstanceObject,
  createCellInstance,
  createCompanion,
  createInstanceType,
} from './cell-fixtures.ts';
import { ensureNamespace } from './fixtures.ts';
import { planTest } from './plan.ts';
import { Prerequisites } from './prerequisites.ts';
import { type ContractHandle, type ContractSuiteOptions, OUR_CRDS } from './suite.ts';
import { stopAll } from './teardown.ts';
import {
  condOf,
  describeConditions,
  eventually,
  FailureLedger,
  InstanceCalls,
  observedBackend,
  SuiteWaitError,
  type WaitContext,
  waitForCondition,
} from './wait.ts';

const CLUSTER = 'cell';

export function runCellContractSuite(opts: ContractSuiteOptions): void {
  describe(`backend contract (cell generation): ${opts.name}`, { timeout: opts.timeoutMs ?? 600_000 }, () => {
    let cp: ControlPlane;
    let h: ContractHandle;
    let mgr: Manager;
    let provider: Provider;
    const logs: string[] = [];
    // A cell namespaces projects as ns-<project namespace uid>.
    const ns = `ns-${randomUUID()}`;
    const cell = defaultCellSettings();
    const settings: ProviderSettings = {
      ...defaultSettings(),
      generation: 'cell',
      cell,
      resyncSeconds: 3600,
      sweepIntervalSeconds: 3600,
    };
    const c = () => cp.client();
    const get = (name: string) =>
      c()
        .get<CellInstance>(INSTANCE, name, ns)
        .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
    const ledger = new FailureLedger();
    const calls = new InstanceCalls();
    const wait: WaitContext = { logs, ledger };
    const prereq = new Prerequisites();
    let anyAvailable = false;
    const available = async (name: string) => {
      prereq.require('instances');
      try {
        const i = await waitForCondition<CellInstance>(wait, {
          client: c(),
          resource: INSTANCE,
          name,
          namespace: ns,
          conditions: { Programmed: 'True', Available: 'True' },
          failFastOn: ['Programmed', 'Available'],
        });
        anyAvailable = true;
        return i;
      } catch (err) {
        // Until one Instance made it, a failure here means none will: later tests fail at once, naming it.
        if (!anyAvailable && err instanceof SuiteWaitError)
          prereq.fail('instances', `no Instance ever became Programmed and Available (${name})`, err);
        throw err;
      }
    };
    const refused = (name: string, reason: string) =>
      waitForCondition<CellInstance>(wait, {
        client: c(),
        resource: INSTANCE,
        name,
        namespace: ns,
        conditions: { Programmed: 'False' },
        reason: { type: 'Programmed', reason },
      });
    const instancesOf = async (uid: string) => (await h.owned(uid)).filter((r) => r.kind === 'instance');

    before(async () => {
      cp = await ControlPlane.start({ crdDirs: [...DATUM_CRDS.cell, OUR_CRDS] });
      h = await opts.makeBackend({ home: c() });
      await ensureNamespace(c(), ns);
      await ensureNamespace(c(), 'provider-system');
      await c().create(PROVIDER_CONFIG, {
        metadata: { name: 'default' },
        spec: {
          credentials: {
            source: 'Secret',
            secretRef: { namespace: 'provider-system', name: 'platform-credentials' },
          },
        },
      });
      await c().create(
        { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
        {
          metadata: { name: 'platform-credentials', namespace: 'provider-system' },
          stringData: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'cell-suite-secret' },
        },
      );
      await createInstanceType(c(), CELL_INSTANCE_TYPE);
      await createInstanceType(c(), 'datumcloud-retired-1', 'Disabled');
      mgr = new Manager({
        log: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
        gracefulShutdownMs: 5000,
      });
      await mgr.engage(CLUSTER, cp.connection);
      provider = registerProvider(mgr, {
        backend: observedBackend(h.backend, ledger, calls),
        settings,
        home: cp.client(),
      });
      await mgr.start();
    });

    // Everything the suite started is stopped even when a test failed: a leftover keeps `node --test` alive.
    after(async () => {
      await stopAll([() => mgr?.stop(), () => h?.cleanup(), () => cp?.stop()]);
    });

    it('accepts the RuntimeClass it ships, refuses one it cannot honour, leaves others alone', async () => {
      const shipped = runtimeClassFor(cell, h.backend.capabilities(), h.backend.name);
      await c().create(RUNTIME_CLASS, shipped);
      await c().create<RuntimeClass>(RUNTIME_CLASS, {
        metadata: { name: 'greedy' },
        spec: {
          controllerName: cell.controllerName,
          isolation: { boundary: 'VirtualMachine' },
          capabilities: { features: ['sandboxRuntime', 'deviceVolumeAttachments'] },
          lifecycle: { operations: ['Snapshot'] },
        },
      });
      await c().create<RuntimeClass>(RUNTIME_CLASS, {
        metadata: { name: 'general-purpose' },
        spec: {
          controllerName: 'compute.datumapis.com/kata-provider',
          isolation: { boundary: 'VirtualMachine' },
          capabilities: { features: ['deviceVolumeAttachments'] },
        },
      });
      const accepted = await waitForCondition<RuntimeClass>(wait, {
        client: c(),
        resource: RUNTIME_CLASS,
        name: cell.runtimeClass,
        conditions: { Accepted: 'True' },
        failFastOn: ['Accepted'],
      });
      assert.equal(condOf(accepted, 'Accepted')?.reason, 'Accepted');
      const greedy = await waitForCondition<RuntimeClass>(wait, {
        client: c(),
        resource: RUNTIME_CLASS,
        name: 'greedy',
        conditions: { Accepted: 'False' },
        reason: { type: 'Accepted', reason: 'UnsupportedFeature' },
        failFastOn: ['Accepted'],
      });
      assert.match(condOf(greedy, 'Accepted')!.message, /deviceVolumeAttachments, lifecycle Snapshot/);
      // The kata provider's class keeps the CRD's default verdict: we never write to it.
      const other = await c().get<RuntimeClass>(RUNTIME_CLASS, 'general-purpose');
      assert.equal(condOf(other, 'Accepted')?.reason, 'Pending');
    });

    it('realizes a sandbox with referenced data: Programmed, Available, template hash, addresses; never Ready', async () => {
      await createCompanion(c(), 'Secret', ns, 'api-token', { token: 'referenced-secret-value' });
      await createCompanion(c(), 'ConfigMap', ns, 'app-config', { MODE: 'production' });
      const created = await createCellInstance(c(), {
        name: 'web-0',
        namespace: ns,
        runtimeClass: cell.runtimeClass,
        secretEnv: { secret: 'api-token', key: 'token' },
        envFromConfigMap: 'app-config',
      });
      const inst = await available('web-0');
      assert.equal(inst.status?.controller?.observedTemplateHash, 'hash-1');
      assert.ok(
        inst.status?.networkInterfaces?.[0]?.assignments?.networkIP,
        'the provider wrote the address',
      );
      assert.equal(condOf(inst, 'Running'), undefined, 'no classic Running condition');
      assert.equal(
        condOf(inst, 'Ready')?.reason,
        'Pending',
        'Ready is compute-owned: left as the CRD default',
      );
      assert.equal((await instancesOf(created.metadata.uid!)).length, 1, 'exactly one backend instance');
    });

    it('realizes a virtual machine', async () => {
      const created = await createCellInstance(c(), {
        name: 'vm-0',
        namespace: ns,
        runtimeClass: cell.runtimeClass,
        runtime: 'virtualMachine',
      });
      await available('vm-0');
      assert.equal((await instancesOf(created.metadata.uid!)).length, 1);
    });

    it('does nothing while any gate remains, and leaves other runtime classes alone', async () => {
      const gated = await createCellInstance(c(), {
        name: 'gated-0',
        namespace: ns,
        runtimeClass: cell.runtimeClass,
        gates: ['Quota', 'ReferencedData', 'Network'],
      });
      const foreign = await createCellInstance(c(), {
        name: 'kata-0',
        namespace: ns,
        runtimeClass: 'general-purpose',
      });
      const unlabelled = await createCellInstance(c(), { name: 'default-0', namespace: ns });
      // Created after them, on the same queue: once it is done, the others have been seen.
      await createCellInstance(c(), { name: 'probe-0', namespace: ns, runtimeClass: cell.runtimeClass });
      await available('probe-0');
      for (const o of [gated, foreign, unlabelled]) {
        const now = await get(o.metadata.name!);
        assert.deepEqual(now?.metadata.finalizers ?? [], [], `${o.metadata.name} not claimed`);
        assert.equal(condOf(now, 'Programmed')?.reason, 'Pending', `${o.metadata.name} untouched`);
        assert.equal((await h.owned(o.metadata.uid!)).length, 0);
      }
      // compute lifts the gates one by one; the last one releases the Instance.
      await c().patch(INSTANCE, 'gated-0', ns, {
        type: 'merge',
        patch: { spec: { controller: { templateHash: 'hash-1', schedulingGates: [{ name: 'Network' }] } } },
      });
      await createCellInstance(c(), { name: 'probe-1', namespace: ns, runtimeClass: cell.runtimeClass });
      await available('probe-1');
      assert.equal((await h.owned(gated.metadata.uid!)).length, 0, 'still gated by Network');
      await c().patch(INSTANCE, 'gated-0', ns, {
        type: 'merge',
        patch: { spec: { controller: { templateHash: 'hash-1', schedulingGates: [] } } },
      });
      await available('gated-0');
    });

    it('refuses what it cannot honour with the cell reasons', async () => {
      await createCellInstance(c(), {
        name: 'retired-0',
        namespace: ns,
        runtimeClass: cell.runtimeClass,
        instanceType: 'datumcloud-retired-1',
      });
      await createCellInstance(c(), {
        name: 'command-0',
        namespace: ns,
        runtimeClass: cell.runtimeClass,
        command: ['/bin/sh'],
      });
      for (const [name, detail] of [
        ['retired-0', /Disabled/],
        ['command-0', /command and args are not supported/],
      ] as const) {
        const i = await refused(name, 'ConfigurationError');
        assert.equal(condOf(i, 'Available')?.reason, 'ConfigurationError');
        assert.match(condOf(i, 'Programmed')!.message, detail);
        assert.equal((await h.owned(i.metadata.uid!)).length, 0);
      }
    });

    it('plan: create before the provider applies an Instance, nothing to do after (or cannot plan); gates, refusals, other classes', async () => {
      prereq.require('instances');
      await planTest({
        client: c(),
        handle: h,
        settings,
        log: mgr.log,
        ns,
        cluster: CLUSTER,
        runtime: 'sandbox',
        networkPolicy: false,
        instance: (name) => cellInstanceObject({ name, namespace: ns, runtimeClass: cell.runtimeClass }),
        running: 'Available',
      });
      // The cell's own rules, whatever the backend: gates wait, a Disabled type is refused, another class skipped.
      await createCellInstance(c(), {
        name: 'plan-gated-0',
        namespace: ns,
        runtimeClass: cell.runtimeClass,
        gates: ['Quota'],
      });
      await createCellInstance(c(), {
        name: 'plan-retired-0',
        namespace: ns,
        runtimeClass: cell.runtimeClass,
        instanceType: 'datumcloud-retired-1',
      });
      await createCellInstance(c(), { name: 'plan-kata-0', namespace: ns, runtimeClass: 'general-purpose' });
      const planOf = async (name: string) => {
        const lines = await planInstances({
          client: c(),
          home: c(),
          settings,
          backend: h.backend,
          log: mgr.log,
          namespace: ns,
          name,
          cluster: CLUSTER,
        });
        assert.equal(lines.length, 1, JSON.stringify(lines));
        return [lines[0]!.action, lines[0]!.details.join('; ')];
      };
      assert.deepEqual(await planOf('plan-gated-0'), ['waiting', 'scheduling gates remain: Quota']);
      const [action, detail] = await planOf('plan-retired-0');
      assert.equal(action, 'refused');
      assert.match(detail!, /^UnknownInstanceType: InstanceType 'datumcloud-retired-1' is Disabled/);
      assert.deepEqual(await planOf('plan-kata-0'), [
        'skipped',
        'runtime class general-purpose is not served by this provider',
      ]);
    });

    it('suspends (stops, keeps, writes no conditions) and resumes', async (t) => {
      if (!h.powerState) return t.skip('backend handle cannot observe power states');
      const before = await available('web-0');
      const uid = before.metadata.uid!;
      const setSuspended = (suspended: boolean) =>
        c().patchStatus(INSTANCE, 'web-0', ns, { type: 'merge', patch: { status: { suspended } } });
      await setSuspended(true);
      await eventually(
        async () => (await h.powerState!(uid)) === 'stopped',
        `the backend instance of web-0 stopped`,
        undefined,
        async () => `powerState() returns ${await h.powerState!(uid)}`,
      );
      const during = await get('web-0');
      assert.deepEqual(
        during?.status?.conditions,
        before.status?.conditions,
        'no condition written while suspended',
      );
      assert.equal((await instancesOf(uid)).length, 1, 'kept, not deleted');
      await setSuspended(false);
      await eventually(
        async () => (await h.powerState!(uid)) === 'running',
        'the backend instance of web-0 running again',
        undefined,
        async () => `powerState() returns ${await h.powerState!(uid)}`,
      );
      await available('web-0');
    });

    it('adopt and ObserveOnly: a Retained platform instance is adopted back, never stolen, observed without marks (or refused)', async () => {
      prereq.require('instances');
      await controlsTest({
        client: c(),
        handle: h,
        ns,
        wait,
        calls,
        instance: (name) => cellInstanceObject({ name, namespace: ns, runtimeClass: cell.runtimeClass }),
        running: 'Available',
        // The cell catalogue has no such reasons: the classic one leads the message.
        refusal: (reason) => ({ reason: 'ConfigurationError', message: new RegExp(`^${reason}: `) }),
        observedReason: 'Programmed',
      });
    });

    it('deletes everything and leaves nothing on the backend, the namespace network included', async () => {
      const all = (await c().list<CellInstance>(INSTANCE, { namespace: ns })).items;
      const nsUid = (await c().get(NAMESPACE, ns)).metadata.uid!;
      assert.ok((await h.owned(nsUid)).length > 0, 'the namespace has its backend network');
      await Promise.all(all.map((i) => c().delete(INSTANCE, i.metadata.name!, ns)));
      const left = async () => (await c().list<CellInstance>(INSTANCE, { namespace: ns })).items;
      await eventually(
        async () => (await left()).length === 0,
        'every Instance gone',
        undefined,
        async () =>
          `still there: ${(await left())
            .map((i) => `${i.metadata.name} (finalizers ${i.metadata.finalizers}; ${describeConditions(i)})`)
            .join(', ')}`,
      );
      for (const i of all)
        assert.deepEqual(await h.owned(i.metadata.uid!), [], `${i.metadata.name} left nothing`);
      assert.deepEqual(await h.owned(nsUid), [], 'the namespace network is gone with its last Instance');
    });

    it('sweeps a planted orphan', async () => {
      const uid = randomUUID();
      await h.plantOrphan({ cluster: CLUSTER, namespace: ns, kind: 'Instance', name: 'ghost-0', uid });
      await eventually(
        async () => {
          await provider.sweeper.sweep();
          return (await h.owned(uid)).length === 0;
        },
        `the planted orphan (owner uid ${uid}) swept`,
        30_000,
        async () => `owned() still returns ${JSON.stringify(await h.owned(uid))}`,
      );
    });
  });
}
