/**
 * The bare-metal backend against sushy-tools (fake driver, basic auth checked) and a real kube-apiserver holding
 * the BareMetalHost inventory: concurrent claims never share a host, a restarted backend adopts its own claims,
 * deletion powers off, ejects and frees (observed on the emulator), a BMC that fails or stalls converges, and bad
 * BMC credentials give CredentialsInvalid without the secret.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BARE_METAL_HOST, BareMetalBackend, type BareMetalHost } from '../../src/backends/baremetal/index.ts';
import type { BackendContext, BackendError, InstanceDesired } from '../../src/datum/backend.ts';
import { applyAll } from '../../src/localenv/apply.ts';
import { ControlPlane } from '../../src/localenv/controlplane.ts';
import {
  applyInventory,
  hostManifests,
  type RedfishEmulator,
  startRedfishEmulator,
} from '../../src/localenv/emulators/sushy/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { OUR_CRDS } from '../../src/testkit/contract/suite.ts';

const DFW = { 'topology.datum.net/city-code': 'DFW' };
const LHR = { 'topology.datum.net/city-code': 'LHR' };
const HOSTS = [
  ...['dfw-a', 'dfw-b', 'dfw-c'].map((name, i) => ({ name, site: DFW, addresses: [`10.128.0.${10 + i}`] })),
  { name: 'lhr-a', site: LHR, addresses: ['10.132.0.10'] },
  { name: 'bad-creds', site: { 'topology.datum.net/city-code': 'BAD' } },
];

describe('bare-metal backend on sushy-tools', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let emu: RedfishEmulator;
  const backends: BareMetalBackend[] = [];
  const config = { images: '', powerRetryMs: '20000', bmcTimeoutMs: '1500' };
  const logs: string[] = [];
  const ctx = (city = 'DFW'): BackendContext => ({
    credentials: { source: 'InjectedIdentity' },
    config,
    location: {
      namespace: 'p',
      name: city.toLowerCase(),
      topology: { 'topology.datum.net/city-code': city },
    },
    installation: 'claims-test',
    log: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
    signal: new AbortController().signal,
  });
  const desired = (id: string, hash = 'h1'): InstanceDesired => ({
    id,
    owner: { cluster: 'c', namespace: 'p', kind: 'Instance', name: id, uid: id.replace(/^inst-/, '') },
    instanceType: 'datumcloud/d1-standard-2',
    runtime: {
      kind: 'virtualMachine',
      image: 'datumcloud/ubuntu-2204-lts',
      diskSizeGiB: 20,
      ports: [],
      files: [],
    },
    interfaces: [{ networkId: 'n', subnetId: 's', ingress: [] }],
    sshKeys: [{ user: 'ubuntu', key: 'ssh-ed25519 AAAA test' }],
    templateHash: hash,
  });
  const newBackend = () => {
    const b = new BareMetalBackend({ home: cp.client(), config });
    backends.push(b);
    return b;
  };
  const hosts = async () => (await cp.client().list<BareMetalHost>(BARE_METAL_HOST)).items;
  async function until<T>(fn: () => Promise<T | undefined>, what: string, ms = 60_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  before(async () => {
    [cp, emu] = await Promise.all([
      ControlPlane.start({ crdDirs: [OUR_CRDS] }),
      startRedfishEmulator({ systems: HOSTS.map((h) => ({ name: h.name })) }),
    ]);
    config.images = `datumcloud/ubuntu-2204-lts=${emu.imageBaseUrl}ubuntu-2204.iso`;
    await applyAll(cp.client(), [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bmc' } }], 't');
    await applyInventory(
      cp.client(),
      hostManifests(
        emu,
        HOSTS.filter((h) => h.name !== 'bad-creds'),
        { namespace: 'bmc', name: 'bmc-admin' },
      ),
    );
    await applyInventory(
      cp.client(),
      hostManifests(
        emu,
        HOSTS.filter((h) => h.name === 'bad-creds'),
        {
          namespace: 'bmc',
          name: 'bmc-wrong',
          user: { username: 'admin', password: 'wrong-bmc-password-7c1e' },
        },
      ).filter((o) => o.kind === 'Secret' || o.metadata.name === 'bad-creds'),
    );
  });

  after(async () => {
    for (const b of backends) await b.close();
    await emu?.stop();
    await cp?.stop();
  });

  it('never gives one host to two Instances: 8 concurrent claims on 3 DFW hosts from two backend objects', async () => {
    const [a, b] = [newBackend(), newBackend()];
    const ids = Array.from({ length: 8 }, () => `inst-${randomUUID()}`);
    const results = await Promise.allSettled(
      ids.map((id, i) => (i % 2 ? a : b).ensureInstance(ctx(), desired(id))),
    );
    const won = results.flatMap((r, i) =>
      r.status === 'fulfilled' ? [{ id: ids[i]!, host: r.value.providerId }] : [],
    );
    const lost = results
      .filter((r) => r.status === 'rejected')
      .map((r) => (r as PromiseRejectedResult).reason);
    assert.equal(won.length, 3, `three winners: ${JSON.stringify(won)} ${lost.map(String)}`);
    assert.equal(new Set(won.map((w) => w.host)).size, 3, 'three distinct hosts');
    for (const e of lost) assert.equal((e as BackendError).reason, 'QuotaExceeded', String(e));
    const stored = (await hosts()).filter((h) => h.status?.claimedBy);
    assert.deepEqual(
      stored.map((h) => `${h.metadata.name}=${h.status?.claimedBy}`).sort(),
      won.map((w) => `${w.host}=${w.id}`).sort(),
      'the inventory records exactly the winners',
    );
    // A restarted backend (a new object, nothing in memory) adopts each claim and never claims twice.
    const restarted = newBackend();
    for (const w of won) {
      const o = await restarted.ensureInstance(ctx(), desired(w.id));
      assert.equal(o.providerId, w.host);
      assert.match(o.addresses[0]?.networkIP ?? '', /^10\.128\.0\.1\d$/);
    }
    assert.equal((await hosts()).filter((h) => h.status?.claimedBy).length, 3);
    // They boot: the emulator applies power changes seconds later; Running comes from its power state.
    for (const w of won)
      await until(
        async () =>
          (await restarted.ensureInstance(ctx(), desired(w.id))).powerState === 'running' ? true : undefined,
        `${w.id} running`,
      );
    const sample = won[0]!.host;
    assert.equal(await emu.powerState(sample), 'On');
    const cd = await emu.virtualMedia(sample, 'Cd');
    assert.equal(cd.inserted, true);
    assert.match(cd.image, /ubuntu-2204\.iso$/);
    const drive = await emu.virtualMedia(sample, 'Floppy');
    assert.equal(drive.inserted, true, 'config drive inserted');
    assert.ok(emu.images.downloads.includes('ubuntu-2204.iso'), 'the BMC downloaded the image');
    const listed = await restarted.listManaged(ctx());
    assert.deepEqual(listed.map((r) => r.id).sort(), won.map((w) => w.id).sort());

    // Deletion: not gone until powered off; then media ejected and the host free.
    const first = won[0]!;
    const r1 = await restarted.deleteInstance(ctx(), first.id);
    assert.equal(r1.gone, false, 'not gone while powered on');
    await until(
      async () => ((await restarted.deleteInstance(ctx(), first.id)).gone ? true : undefined),
      'gone',
    );
    assert.equal(await emu.powerState(first.host), 'Off');
    assert.equal((await emu.virtualMedia(first.host, 'Cd')).inserted, false);
    assert.equal((await emu.virtualMedia(first.host, 'Floppy')).inserted, false);
    const freed = (await hosts()).find((h) => h.metadata.name === first.host)!;
    assert.equal(freed.status?.phase, 'free');
    assert.equal(freed.status?.claimedBy, undefined);
    assert.equal((await restarted.deleteInstance(ctx(), first.id)).gone, true, 'deleting again is gone');
    // Freed, it serves the next Instance.
    const next = await restarted.ensureInstance(ctx(), desired(`inst-${randomUUID()}`));
    assert.equal(next.providerId, first.host);
  });

  it('converges through a failing, then stalling BMC', async () => {
    const b = newBackend();
    const id = `inst-${randomUUID()}`;
    emu.proxy.plan({
      method: 'POST',
      path: '/Actions/ComputerSystem.Reset',
      fault: { kind: 'status', status: 503 },
      times: 1,
    });
    await assert.rejects(
      b.ensureInstance(ctx('LHR'), desired(id)),
      (e: BackendError) => e.reason === 'Transient',
    );
    emu.proxy.plan({ path: '/redfish/v1/Systems/', fault: { kind: 'delay', ms: 2500 }, times: 1 });
    await assert.rejects(
      b.ensureInstance(ctx('LHR'), desired(id)),
      (e: BackendError) => e.reason === 'Transient' && /no answer/.test(e.message),
    );
    emu.proxy.plan({ path: '/redfish/v1/Systems/', fault: { kind: 'drop' }, times: 1 });
    await assert.rejects(
      b.ensureInstance(ctx('LHR'), desired(id)),
      (e: BackendError) => e.reason === 'Transient',
    );
    const o = await until(async () => {
      const r = await b.ensureInstance(ctx('LHR'), desired(id));
      return r.powerState === 'running' ? r : undefined;
    }, 'running after faults');
    assert.equal(o.providerId, 'lhr-a');
    assert.equal((await hosts()).filter((h) => h.status?.claimedBy === id).length, 1, 'still one claim');
    await until(
      async () => ((await b.deleteInstance(ctx('LHR'), id)).gone ? true : undefined),
      'lhr-a freed',
    );
    assert.equal(await emu.powerState('lhr-a'), 'Off');
  });

  it('reports bad BMC credentials as CredentialsInvalid without the secret', async () => {
    const b = newBackend();
    const err = await b.ensureInstance(ctx('BAD'), desired(`inst-${randomUUID()}`)).then(
      () => assert.fail('should fail'),
      (e: BackendError) => e,
    );
    assert.equal(err.reason, 'CredentialsInvalid');
    assert.match(err.message, /bad-creds/);
    assert.equal(`${err.message}${logs.join('\n')}`.includes('wrong-bmc-password-7c1e'), false);
  });

  it('releases (Retain): the host is marked retained, left running, never listed or claimed again', async () => {
    const b = newBackend();
    const id = `inst-${randomUUID()}`;
    const o = await b.ensureInstance(ctx('LHR'), desired(id));
    const { released } = await b.release(ctx('LHR'), 'instance', id);
    assert.deepEqual(released, [o.providerId]);
    const h = (await hosts()).find((x) => x.metadata.name === o.providerId)!;
    assert.equal(h.status?.phase, 'retained');
    assert.equal(
      (await b.listManaged(ctx())).some((r) => r.id === id),
      false,
    );
    assert.equal((await b.deleteInstance(ctx(), id)).gone, true, 'no longer ours to delete');
  });
});
