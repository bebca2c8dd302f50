/**
 * Fail-closed capabilities through the whole provider on a real kube-apiserver: an Instance with a malformed
 * image, or with a network policy for a backend that cannot enforce one, is refused with a reason and never
 * reaches the backend; an instance type added by the serving ProviderConfig is accepted; and on a backend
 * that cannot see containers, Running says it reflects the machine only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { INSTANCE, NETWORK_CONTEXT, SUBNET } from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { MACHINE_ONLY_NOTE } from '../../src/datum/reconcilers/capabilities.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import {
  createLocation,
  createNetwork,
  createNetworking,
  ensureNamespace,
  instanceObject,
} from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/testkit/index.ts';

const NS = 'project';
const LOC = { name: 'dfw', namespace: NS };
// Like a backend that runs containers on VMs and has no firewall: no network policy, no container state.
const backend = new InMemoryBackend({
  pendingMs: 100,
  stoppingMs: 100,
  capabilities: { features: ['externalIP', 'sshKeys', 'namedPorts'], reportsContainerState: false },
});

describe('refusals through the provider', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let mgr: Manager;
  const c = () => cp.client();
  const condition = async (name: string, type: string) =>
    condOf(await c().get<Instance>(INSTANCE, name, NS), type);
  const create = (name: string, edit: (i: Instance) => void = () => {}) => {
    const inst = instanceObject({ name, namespace: NS, location: LOC });
    inst.spec!.networkInterfaces[0]!.networkPolicy = undefined;
    edit(inst);
    return c().create(INSTANCE, inst);
  };
  const ensured = (name: string) =>
    backend.calls.filter((x) => x.op === 'ensureInstance' && x.id?.includes(name)).length;

  before(async () => {
    cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS] });
    await ensureNamespace(c(), NS);
    await createLocation(c(), NS, 'dfw', 'datum-provider-ts');
    await createNetwork(c(), NS);
    await c().create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: {
        credentials: { source: 'InjectedIdentity' },
        config: { instanceTypes: 'datumcloud/d1-xlarge=any' },
      },
    });
    mgr = new Manager({ log: createLogger({ level: 'error', sink: () => {} }), gracefulShutdownMs: 2000 });
    await mgr.engage('project', cp.connection);
    registerProvider(mgr, { backend, settings: { ...defaultSettings(), resyncSeconds: 3600 }, home: c() });
    await mgr.start();
    await createNetworking(c(), NS, 'default', LOC);
    for (const [r, name] of [
      [NETWORK_CONTEXT, 'default-project-dfw'],
      [SUBNET, 'default-project-dfw-0'],
    ] as const)
      await eventually(
        async () => condOf(await c().get(r, name, NS), 'Programmed')?.status === 'True',
        `${name} programmed`,
      );
  });
  after(async () => {
    await mgr?.stop();
    await cp?.stop();
  });

  it('refuses a malformed container image (InvalidImage) and never calls the backend', async () => {
    await create('bad-image', (i) => {
      i.spec!.runtime.sandbox!.containers[0]!.image = 'NOT a valid ref!!';
    });
    const p = await eventually(async () => {
      const x = await condition('bad-image', 'Programmed');
      return x?.reason === 'InvalidImage' ? x : undefined;
    }, 'Programmed=False/InvalidImage');
    assert.equal(p.status, 'False');
    assert.match(p.message, /container 'app': image 'NOT a valid ref!!' is not a valid image reference/);
    assert.notEqual((await condition('bad-image', 'Running'))?.status, 'True', 'no Running claimed');
    assert.equal(ensured('bad-image'), 0);
  });

  it('refuses a network policy the backend cannot enforce (UnsupportedFeature) instead of ignoring it', async () => {
    await create('policed', (i) => {
      i.spec!.networkInterfaces[0]!.networkPolicy = {
        ingress: [{ ports: [{ port: 80 }], from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
      };
    });
    const p = await eventually(async () => {
      const x = await condition('policed', 'Programmed');
      return x?.reason === 'UnsupportedFeature' ? x : undefined;
    }, 'Programmed=False/UnsupportedFeature');
    assert.match(p.message, /networkPolicy is not supported by the inmemory backend/);
    assert.equal(ensured('policed'), 0);
  });

  it('accepts an instance type the serving ProviderConfig adds', async () => {
    await create('xlarge', (i) => {
      i.spec!.runtime.resources.instanceType = 'datumcloud/d1-xlarge';
    });
    await eventually(
      async () => (await condition('xlarge', 'Programmed'))?.status === 'True',
      'xlarge Programmed',
      20_000,
    );
  });

  it('says Running reflects the machine only when the backend cannot see containers', async () => {
    await create('sandbox');
    const r = await eventually(
      async () => {
        const x = await condition('sandbox', 'Running');
        return x?.status === 'True' ? x : undefined;
      },
      'sandbox Running',
      20_000,
    );
    assert.equal(r.message, `Instance is running ${MACHINE_ONLY_NOTE}`);
  });
});
