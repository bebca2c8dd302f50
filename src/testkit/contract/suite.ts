/**
 * The backend contract suite: provider-level flows against a real kube-apiserver with the upstream Datum
 * CRDs, playing Datum's operators by hand. Any backend runs it with its own handle:
 *   runContractSuite({ name: 'inmemory', makeBackend: async () => ({ backend, owned, plantOrphan, ... }) });
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { INSTANCE, NETWORK_CONTEXT, SECRET, SUBNET } from '../../datum/api/resources.ts';
import type { Instance } from '../../datum/api/types.ts';
import type { Backend, ManagedResource, PowerState, ResourceOwner } from '../../datum/backend.ts';
import { type Provider, registerProvider } from '../../datum/provider.ts';
import { PROVIDER_CONFIG } from '../../datum/providerconfig.ts';
import { defaultSettings } from '../../datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../localenv/controlplane.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { isNotFound } from '../../runtime/client/errors.ts';
import { createLogger } from '../../runtime/log/logger.ts';
import { Manager } from '../../runtime/manager/manager.ts';
import { EVENT_RESOURCE } from '../../runtime/util/events.ts';
import { controlsTest } from './adopt.ts';
import { runCellContractSuite } from './cell.ts';
import { crashTest } from './crash.ts';
import { deletionOrderTest } from './deletion.ts';
import {
  createInstance as createFixture,
  instanceObject as createFixtureObject,
  createLocation,
  createNetwork,
  createNetworking,
  ensureNamespace,
} from './fixtures.ts';
import { instanceTests } from './instances.ts';
import { planTest } from './plan.ts';
import { Prerequisites } from './prerequisites.ts';
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

export { condOf, eventually };

export const OUR_CRDS = join(fileURLToPath(new URL('../../../deploy/crds', import.meta.url)));

export interface ContractHandle {
  backend: Backend;
  /** Live backend resources (not yet deleted) owned by this upstream UID. */
  owned(uid: string): Promise<ManagedResource[]>;
  plantOrphan(owner: ResourceOwner): Promise<string>;
  /**
   * The data of the credentials Secret the ProviderConfig names, holding `secret` (a value the suite then
   * looks for in logs, events and status). Default: an access key pair whose secret key is `secret`.
   */
  credentials?(secret: string): Record<string, string>;
  /** Injects `count` failures of `mode` into the next instance creations, if the backend supports it. */
  injectInstanceFaults?(mode: 'throttle' | 'error', count: number): void | Promise<void>;
  /** Injects a non-retryable failure whose message contains `text` (to check redaction). */
  injectInstanceFailure?(reason: 'CredentialsInvalid', text: string): void | Promise<void>;
  /** For the crash test: command + env that run a provider process on the same backend state. */
  providerProcess?(
    kubeconfig: string,
    locationClass: string,
    failpoint?: string,
  ): { command: string; args: string[]; env: Record<string, string> };
  /** The platform power state of the instance owned by this upstream UID (cell suite: suspend/resume). */
  powerState?(uid: string): Promise<PowerState | undefined>;
  cleanup(): Promise<void>;
}

export interface ContractSuiteOptions {
  name: string;
  /** `home` is the suite's control plane, which the provider uses as its home cluster too. */
  makeBackend(env: { home: HttpClient }): Promise<ContractHandle>;
  timeoutMs?: number;
  /** Which Datum generation the provider speaks (default classic): the cell suite is its own (cell.ts). */
  generation?: 'classic' | 'cell';
}

const SECRET_VALUE = 'contract-suite-secret-4f1c9b';

export function runContractSuite(opts: ContractSuiteOptions): void {
  if (opts.generation === 'cell') {
    runCellContractSuite(opts);
    return;
  }
  describe(`backend contract: ${opts.name}`, { timeout: opts.timeoutMs ?? 600_000 }, () => {
    let cp: ControlPlane;
    let cp2: ControlPlane;
    let h: ContractHandle;
    let mgr: Manager;
    let provider: Provider;
    const logs: string[] = [];
    const ns = 'project-a';
    const ours = { name: 'dfw', namespace: ns };
    const settings = { ...defaultSettings(), resyncSeconds: 3600, sweepIntervalSeconds: 3600 };
    const crds = [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS];
    const c = () => cp.client();
    // The runtime of the suite's plain Instances: sandbox, unless the backend has none (e.g. bare metal).
    const runtime = () =>
      h.backend.capabilities().runtimes.includes('sandbox')
        ? ('sandbox' as const)
        : ('virtualMachine' as const);
    // Instances carry a network policy only where the backend has the feature (else they would be refused).
    const createInstance: typeof createFixture = (client, f) =>
      createFixture(client, {
        networkPolicy: h.backend.capabilities().features.includes('networkPolicy'),
        ...f,
      });
    const get = (name: string, namespace = ns, client = c()) =>
      client
        .get<Instance>(INSTANCE, name, namespace)
        .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
    const ledger = new FailureLedger();
    const calls = new InstanceCalls();
    const wait: WaitContext = { logs, ledger };
    const prereq = new Prerequisites();
    let anyProgrammed = false;
    const programmed = async (name: string, namespace = ns, client = c()) => {
      prereq.require('networking', 'instances');
      try {
        const i = await waitForCondition<Instance>(wait, {
          client,
          resource: INSTANCE,
          name,
          namespace,
          conditions: { Programmed: 'True', Running: 'True' },
        });
        anyProgrammed = true;
        return i;
      } catch (err) {
        // Until one Instance made it, a failure here means none will: later tests fail at once, naming it.
        if (!anyProgrammed && err instanceof SuiteWaitError)
          prereq.fail('instances', `no Instance ever became Programmed and Running (${name})`, err);
        throw err;
      }
    };

    before(async () => {
      [cp, cp2] = await Promise.all([
        ControlPlane.start({ crdDirs: crds }),
        ControlPlane.start({ crdDirs: crds }),
      ]);
      h = await opts.makeBackend({ home: c() });
      for (const client of [c(), cp2.client()]) {
        await ensureNamespace(client, ns);
        await createLocation(client, ns, 'dfw', settings.locationClassName, 'DFW');
        await createLocation(client, ns, 'elsewhere', 'someone-elses-class', 'DLS');
        await createNetwork(client, ns);
      }
      await ensureNamespace(c(), 'provider-system');
      await c().create(SECRET, {
        metadata: { name: 'platform-credentials', namespace: 'provider-system' },
        stringData: h.credentials?.(SECRET_VALUE) ?? {
          accessKeyId: 'AKIDEXAMPLE',
          secretAccessKey: SECRET_VALUE,
        },
      });
      await c().create(PROVIDER_CONFIG, {
        metadata: { name: 'default' },
        spec: {
          credentials: {
            source: 'Secret',
            secretRef: { namespace: 'provider-system', name: 'platform-credentials' },
          },
        },
      });
      mgr = new Manager({
        log: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
        gracefulShutdownMs: 5000,
      });
      await mgr.engage('project-a', cp.connection);
      provider = registerProvider(mgr, {
        backend: observedBackend(h.backend, ledger, calls),
        settings,
        home: cp.client(),
      });
      await mgr.start();
    });

    // Everything the suite started is stopped even when a test (or a step here) failed: a leftover would
    // keep `node --test` from exiting.
    after(async () => {
      await stopAll([() => mgr?.stop(), () => h?.cleanup(), () => cp?.stop(), () => cp2?.stop()]);
    });

    it('programs the NetworkContext and Subnet of our Location', async () => {
      await createNetworking(c(), ns, 'default', ours);
      const ctxName = 'default-project-a-dfw';
      const subnetName = 'default-project-a-dfw-0';
      const ready = (resource: typeof SUBNET, name: string) =>
        waitForCondition(wait, {
          client: c(),
          resource,
          name,
          namespace: ns,
          conditions: { Programmed: 'True' },
        });
      await prereq.guard('networking', `NetworkContext ${ns}/${ctxName} was never Programmed`, () =>
        ready(NETWORK_CONTEXT, ctxName),
      );
      const subnet = await prereq.guard('networking', `Subnet ${ns}/${subnetName} was never Programmed`, () =>
        ready(SUBNET, subnetName),
      );
      const backendSubnets = await h.owned(subnet.metadata.uid!);
      assert.equal(
        backendSubnets.length,
        1,
        `exactly one backend resource for Subnet ${subnetName}; owned() returned ${JSON.stringify(backendSubnets)}`,
      );
      const pc = await c().get(PROVIDER_CONFIG, 'default');
      assert.equal(
        condOf(pc, 'Ready')?.reason,
        'CredentialsResolved',
        'the ProviderConfig says its credentials resolve',
      );
      await c().create(PROVIDER_CONFIG, {
        metadata: { name: 'broken' },
        spec: {
          credentials: { source: 'Secret', secretRef: { namespace: 'provider-system', name: 'missing' } },
          locations: { names: [`${ns}/nowhere`] },
        },
      });
      // The resolver reads ProviderConfigs through a watch: the new one arrives shortly.
      const refusal = await eventually(
        () =>
          provider.context.resolver
            .forLocation({
              metadata: { name: 'nowhere', namespace: ns },
              spec: { locationClassName: 'x', topology: {}, provider: {} },
            })
            .then(
              () => undefined,
              (err: Error) => err,
            ),
        `ProviderConfig broken to serve Location ${ns}/nowhere and refuse it for its missing Secret`,
        undefined,
        async () =>
          `the resolver still resolves ${ns}/nowhere without error; ProviderConfig broken: ${describeConditions(
            await c()
              .get(PROVIDER_CONFIG, 'broken')
              .catch(() => undefined),
          )}`,
      );
      assert.match(refusal.message, /Secret provider-system\/missing not found/);
      const broken = await c().get(PROVIDER_CONFIG, 'broken');
      assert.equal(condOf(broken, 'Ready')?.status, 'False');
      assert.equal(condOf(broken, 'Ready')?.reason, 'CredentialsUnavailable');
    });

    instanceTests({ c, h: () => h, ns, ours, logs, get, programmed, runtime, createInstance, wait, prereq });

    it('ends in success after injected throttling and server errors', { skip: false }, async (t) => {
      if (!h.injectInstanceFaults) return t.skip('backend handle cannot inject faults');
      prereq.require('networking', 'instances');
      await h.injectInstanceFaults('throttle', 2);
      await h.injectInstanceFaults('error', 2);
      const i = await createInstance(c(), {
        name: 'flaky-0',
        namespace: ns,
        location: ours,
        runtime: runtime(),
      });
      await programmed('flaky-0');
      const owned = await h.owned(i.metadata.uid!);
      assert.equal(
        owned.filter((r) => r.kind === 'instance').length,
        1,
        `exactly one backend instance for flaky-0; owned() returned ${JSON.stringify(owned)}`,
      );
    });

    it('serves a second project control plane engaged at run time', async () => {
      prereq.require('networking', 'instances');
      await mgr.engage('project-b', cp2.connection);
      await createNetworking(cp2.client(), ns, 'default', ours, '10.130.0.0/20');
      const i = await createInstance(cp2.client(), {
        name: 'b-web-0',
        namespace: ns,
        location: ours,
        runtime: runtime(),
      });
      await programmed('b-web-0', ns, cp2.client());
      const owned = await h.owned(i.metadata.uid!);
      assert.equal(owned[0]?.owner.cluster, 'project-b', `owned() returned ${JSON.stringify(owned)}`);
    });

    it('never lets a secret value reach logs, events or status', async (t) => {
      if (!h.injectInstanceFailure) return t.skip('backend handle cannot inject failures');
      prereq.require('networking');
      await h.injectInstanceFailure('CredentialsInvalid', `signature mismatch for ${SECRET_VALUE}`);
      await createInstance(c(), { name: 'leaky-0', namespace: ns, location: ours, runtime: runtime() });
      const i = await waitForCondition<Instance>(wait, {
        client: c(),
        resource: INSTANCE,
        name: 'leaky-0',
        namespace: ns,
        conditions: { Programmed: 'False' },
        reason: { type: 'Programmed', reason: 'CredentialsInvalid' },
      });
      assert.match(condOf(i, 'Programmed')!.message, /\[redacted\]/);
      // The failure's Warning Event is recorded asynchronously: wait for it rather than for a while.
      const eventsAbout = async () =>
        (await c().list(EVENT_RESOURCE, { namespace: ns })).items.filter(
          (e) => e.involvedObject?.name === 'leaky-0',
        );
      const events = await eventually(
        async () => {
          const l = await c().list(EVENT_RESOURCE, { namespace: ns });
          return l.items.some((e) => e.involvedObject?.name === 'leaky-0' && e.type === 'Warning')
            ? l
            : undefined;
        },
        'a Warning Event about leaky-0',
        undefined,
        async () =>
          `events about leaky-0: ${JSON.stringify((await eventsAbout()).map((e) => [e.type, e.reason]))}`,
      );
      const everything = [
        JSON.stringify(events.items),
        logs.join('\n'),
        JSON.stringify(await c().list(INSTANCE, { namespace: ns })),
      ].join('\n');
      assert.ok(everything.length > 1000);
      assert.equal(everything.includes(SECRET_VALUE), false, 'secret value found in logs, events or status');
    });

    it('plan says create before the provider applies an Instance and nothing to do after (or that the backend cannot plan)', async () => {
      prereq.require('networking', 'instances');
      await planTest({
        client: c(),
        handle: h,
        settings,
        log: mgr.log,
        ns,
        cluster: 'project-a',
        runtime: runtime(),
        networkPolicy: h.backend.capabilities().features.includes('networkPolicy'),
      });
    });

    it('adopt and ObserveOnly: a Retained platform instance is adopted back, never stolen, observed without marks (or refused as Unsupported)', async () => {
      prereq.require('networking', 'instances');
      await controlsTest({
        client: c(),
        handle: h,
        ns,
        wait,
        calls,
        instance: (name) =>
          createFixtureObject({
            name,
            namespace: ns,
            location: ours,
            runtime: runtime(),
            networkPolicy: h.backend.capabilities().features.includes('networkPolicy'),
          }),
        running: 'Running',
        refusal: (reason) => ({ reason, message: /^/ }),
        observedReason: 'Observed',
      });
    });

    it('deletes in order and awaits the backend: no finalizer comes off while its backend resource exists', async () => {
      // Everything at once: the order is the provider's and the backend's, not the test's.
      prereq.require('networking', 'instances');
      await deletionOrderTest({
        client: c(),
        handle: h,
        ns,
        instances: [
          'web-0',
          'vm-0',
          'gated-0',
          'good-after-bad-0',
          'flaky-0',
          'bad-type-0',
          'no-runtime-0',
          'leaky-0',
        ],
        context: 'default-project-a-dfw',
        subnet: 'default-project-a-dfw-0',
      });
    });

    it('sweeps a planted orphan', async () => {
      const uid = randomUUID();
      await h.plantOrphan({ cluster: 'project-a', namespace: ns, kind: 'Instance', name: 'ghost-0', uid });
      const planted = await h.owned(uid);
      assert.equal(
        planted.length,
        1,
        `owned() sees the planted orphan; it returned ${JSON.stringify(planted)}`,
      );
      const deleted = await provider.sweeper.sweep();
      assert.ok(deleted.length >= 1, `the sweep deleted something; it returned ${JSON.stringify(deleted)}`);
      await eventually(
        async () => {
          if ((await h.owned(uid)).length === 0) return true;
          await provider.sweeper.sweep();
          return false;
        },
        `the planted orphan (owner uid ${uid}) swept`,
        30_000,
        async () => `owned() still returns ${JSON.stringify(await h.owned(uid))}`,
      );
      // Resources of a cluster we do not engage are never touched.
      const foreign = randomUUID();
      await h.plantOrphan({
        cluster: 'not-engaged',
        namespace: ns,
        kind: 'Instance',
        name: 'x',
        uid: foreign,
      });
      await provider.sweeper.sweep();
      assert.equal((await h.owned(foreign)).length, 1, 'a resource of a cluster we do not engage is kept');
    });

    it('survives a crash between the backend create and the status write: exactly one backend instance', async (t) => {
      if (!h.providerProcess) return t.skip('backend handle cannot run a provider process');
      prereq.require('networking', 'instances');
      await crashTest({
        client: c(),
        kubeconfig: cp.kubeconfigPath,
        handle: h,
        ns,
        runtime: runtime(),
      });
    });
  });
}
