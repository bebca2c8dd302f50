/**
 * The Proxmox backend against fakepve's own faults, directly (no control plane): concurrent creates get
 * distinct VMIDs and repeated ensures of one id make one guest; config locks, slow shutdowns, a flaky network
 * and quorum loss end in convergence with nothing duplicated and nothing left after deletion; a bad token is
 * CredentialsInvalid without the secret; a wrong pinned fingerprint is refused before any request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createProxmoxBackend, type ProxmoxBackend } from '../../src/backends/proxmox/index.ts';
import { guestName, hashInRange } from '../../src/backends/proxmox/names.ts';
import { type BackendContext, BackendError, type InstanceDesired } from '../../src/datum/backend.ts';
import {
  defaultSetup,
  type FakePve,
  startFakePve,
  TEMPLATE_VMID,
} from '../../src/localenv/emulators/fakepve/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';

interface FakeGuest {
  vmid: number;
  name: string;
  tags: string;
  status: string;
}

describe('proxmox backend under faults (fakepve)', { timeout: 300_000 }, () => {
  let pve: FakePve;
  let backend: ProxmoxBackend;
  let config: Record<string, string>;
  const owner = (name: string) => ({
    cluster: 'c',
    namespace: 'n',
    kind: 'Instance' as const,
    name,
    uid: `uid-${name}`,
  });
  const ctxWith = (data: Record<string, string>, cfg = config): BackendContext => ({
    credentials: { source: 'Secret', data },
    config: cfg,
    location: { namespace: 'n', name: 'dfw', topology: { 'topology.datum.net/city-code': 'DFW' } },
    log: createLogger({ level: 'error', sink: () => {} }),
    signal: new AbortController().signal,
  });
  const ctx = () => ctxWith({ tokenId: pve.tokenId, tokenSecret: pve.tokenSecret });
  const vm = (id: string, hash = 'h1'): InstanceDesired => ({
    id,
    owner: owner(id),
    instanceType: 'datumcloud/d1-standard-2',
    runtime: {
      kind: 'virtualMachine',
      image: 'datumcloud/ubuntu-2204-lts',
      diskSizeGiB: 20,
      ports: [],
      files: [],
    },
    interfaces: [
      { networkId: 'net', subnetId: 'sub', ingress: [{ ports: [{ protocol: 'TCP', port: 22 }], from: [] }] },
    ],
    sshKeys: [{ user: 'ubuntu', key: 'ssh-ed25519 AAAAC3Nz test@example' }],
    templateHash: hash,
  });
  const ours = async () =>
    (await pve.control<FakeGuest[]>({ op: 'guests' })).filter((g) => g.name.startsWith('dp-'));
  /** ensure until it succeeds (what the reconciler does with a retryable error). */
  const converge = async (d: InstanceDesired, c = ctx()) => {
    let last: unknown;
    for (let i = 0; i < 40; i++) {
      try {
        const o = await backend.ensureInstance(c, d);
        if (o.powerState === 'running' && o.upToDate) return o;
      } catch (err) {
        assert.ok(err instanceof BackendError, `a BackendError, got ${err}`);
        assert.ok(err.retryable, `retryable: ${err.message}`);
        last = err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`did not converge: ${last}`);
  };
  const deleteAll = async (ids: string[]) => {
    for (const id of ids)
      for (let i = 0; i < 40; i++) {
        try {
          if ((await backend.deleteInstance(ctx(), id)).gone) break;
        } catch (err) {
          assert.ok(err instanceof BackendError && err.retryable, `${err}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
  };

  /** Where the backend's VMID probing starts for an id (installation `faults`, the default range). */
  const hashedVmid = (id: string) => hashInRange(`faults/${id}`, 100_000, 899_999);
  /** A guest that is not ours, on the VMID race-a hashes to: every creator of race-a must collide with it. */
  const FOREIGN = {
    vmid: hashedVmid('race-a'),
    name: 'someone-else',
    node: 'pve2',
    config: { memory: '512' },
  };
  /** "already exists" answers to guest creations (clone / create), from the simulator's own record. */
  const collisions = async () =>
    (await pve.control<[string, string, number, string][]>({ op: 'refusals' }))
      .filter(([m, p, , msg]) => m === 'POST' && /\/(clone|qemu|lxc)$/.test(p) && /already exists/.test(msg))
      .map(([, , , msg]) => Number(/\b(\d{3,})\b/.exec(msg)?.[1]));

  before(async () => {
    const setup = defaultSetup();
    setup.guests.push(FOREIGN);
    pve = await startFakePve({ setup });
    config = {
      endpoint: pve.endpoint,
      fingerprint: pve.fingerprint,
      managedBy: 'faults',
      images: `datumcloud/ubuntu-2204-lts=${TEMPLATE_VMID}`,
      placement: 'DFW=pve1|pve2',
    };
    backend = createProxmoxBackend({ backendConfig: config });
    await backend.ensureNetwork(ctx(), {
      id: 'net',
      owner: owner('net'),
      ipv4Cidr: '10.128.0.0/9',
      mtu: 1500,
    });
    await backend.ensureSubnet(ctx(), {
      id: 'sub',
      owner: owner('sub'),
      networkId: 'net',
      cidr: '10.128.0.0/24',
    });
  });
  after(async () => {
    await backend?.close();
    await pve?.stop();
  });

  it('gives N concurrent creates N distinct VMIDs and addresses, and repeated ensures of one id one guest', async (t) => {
    // Two backends (two provider processes) and the same ids twice each: 6 ensures for 3 instances.
    const other = createProxmoxBackend({ backendConfig: config });
    const ids = ['race-a', 'race-b', 'race-c'];
    const results = await Promise.allSettled(
      ids.flatMap((id) => [backend.ensureInstance(ctx(), vm(id)), other.ensureInstance(ctx(), vm(id))]),
    );
    for (const r of results)
      if (r.status === 'rejected')
        assert.ok(r.reason instanceof BackendError && r.reason.retryable, `${r.reason}`);
    const obs = await Promise.all(ids.map((id) => converge(vm(id))));
    const guests = await ours();
    assert.equal(guests.length, 3, `one guest per id: ${JSON.stringify(guests)}`);
    assert.equal(new Set(guests.map((g) => g.vmid)).size, 3);
    // The races happened: PVE refused taken VMIDs, and the creators resolved them.
    const refused = await collisions();
    t.diagnostic(`"already exists" refusals for VMIDs: ${refused.join(', ')}`);
    // race-a: its hashed VMID is a foreign guest's, so it was probed past; the foreign guest is untouched.
    assert.ok(refused.includes(FOREIGN.vmid), 'a create collided with the foreign guest');
    const a = guests.find((g) => g.name === guestName('faults', 'race-a'));
    assert.ok(a && a.vmid !== FOREIGN.vmid, `race-a got another VMID: ${JSON.stringify(a)}`);
    const foreign = (await pve.control<FakeGuest[]>({ op: 'guests' })).find((g) => g.vmid === FOREIGN.vmid);
    assert.equal(foreign?.name, FOREIGN.name, 'the foreign guest is untouched');
    // Two creators of one id: the loser's create was refused on the VMID the winner took, and it adopted
    // that guest instead of making a second one (one guest per id, above).
    const ownRaced = guests.filter((g) => refused.includes(g.vmid));
    assert.ok(
      ownRaced.length > 0,
      `a create collided with our own concurrent create: ${JSON.stringify(guests)}`,
    );
    assert.equal(new Set(obs.map((o) => o.addresses[0]?.networkIP)).size, 3, 'distinct addresses');
    await deleteAll(ids);
    assert.deepEqual(await ours(), []);
    await other.close();
  });

  it('converges through a held config lock, a flaky network and quorum loss, and deletes through a slow shutdown', async () => {
    await converge(vm('fault-0'));
    const [g] = await ours();
    assert.ok(g);
    await pve.control({ op: 'hold_config_lock', vmid: g.vmid, secs: 300 });
    // A template change needs a config write: refused while locked (retryable), applied after.
    await assert.rejects(
      backend.ensureInstance(ctx(), vm('fault-0', 'h2')),
      (e: BackendError) => e.retryable,
    );
    await pve.control({ op: 'release_config_lock', vmid: g.vmid });
    await converge(vm('fault-0', 'h2'));

    await pve.control({ op: 'lose_quorum' });
    const lost = await backend.ensureInstance(ctx(), vm('fault-1')).catch((e: unknown) => e);
    assert.ok(lost instanceof BackendError && lost.reason === 'Transient', `${lost}`);
    assert.match(lost.message, /quorum/);
    await pve.control({ op: 'regain_quorum' });

    await pve.control({ op: 'flaky_network', drop_rate: 0.2, seed: 7 });
    await converge(vm('fault-1'));
    await converge(vm('fault-2'));
    await pve.control({ op: 'flaky_network', drop_rate: 0 });
    assert.equal((await ours()).length, 3, 'nothing duplicated');

    await pve.control({ op: 'shutdown_secs', secs: 90 });
    await deleteAll(['fault-0', 'fault-1', 'fault-2']);
    assert.deepEqual(await ours(), [], 'nothing left');
  });

  it('reports a bad token as CredentialsInvalid without the secret', async () => {
    const secret = 'not-the-token-secret-7c1e';
    const err = await backend
      .ensureInstance(ctxWith({ tokenId: pve.tokenId, tokenSecret: secret }), vm('bad-token'))
      .catch((e: unknown) => e);
    assert.ok(err instanceof BackendError, `${err}`);
    assert.equal(err.reason, 'CredentialsInvalid');
    assert.equal(`${err.message} ${JSON.stringify(err.cause)}`.includes(secret), false);
  });

  it('refuses a server whose certificate does not match the pinned fingerprint, before sending the token', async () => {
    const before = (await pve.control<unknown[]>({ op: 'requests' })).length;
    const wrong = { ...config, fingerprint: 'AB:'.repeat(31) + 'AB' };
    const err = await backend
      .listManaged(ctxWith({ tokenId: pve.tokenId, tokenSecret: pve.tokenSecret }, wrong))
      .catch((e: unknown) => e);
    assert.ok(err instanceof BackendError, `${err}`);
    assert.equal(err.reason, 'InvalidConfiguration');
    assert.match(err.message, /fingerprint/);
    assert.equal(
      (await pve.control<unknown[]>({ op: 'requests' })).length,
      before,
      'no request reached the server',
    );
    // The CA bundle works too, and no setting at all (system CAs) refuses the self-signed certificate.
    const withCa = { ...config, fingerprint: '', caBundle: pve.caPem };
    assert.ok(
      Array.isArray(
        await backend.listManaged(ctxWith({ tokenId: pve.tokenId, tokenSecret: pve.tokenSecret }, withCa)),
      ),
    );
    const none = { ...config, fingerprint: '' };
    const refused = await backend
      .listManaged(ctxWith({ tokenId: pve.tokenId, tokenSecret: pve.tokenSecret }, none))
      .catch((e: unknown) => e);
    assert.ok(refused instanceof BackendError && refused.reason === 'InvalidConfiguration', `${refused}`);
  });
});
