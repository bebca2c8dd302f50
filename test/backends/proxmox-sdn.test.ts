/**
 * `networkMode=sdn` against fakepve, directly (no control plane). fakepve answers the SDN API from PVE's schema
 * (parameters and permissions checked, with PVE's errors) but stores nothing: its vnet and subnet lists are
 * made-up samples that never hold ours. So this proves what it can: the requests we send and their order
 * (create, then apply with `PUT /cluster/sdn`; delete, then apply), that PVE's schema accepts every parameter
 * (no refusal recorded), that PVE's own "already defined" counts as created and its "zone does not exist" is
 * an InvalidConfiguration naming `sdnZone`, and that guests attach to the vnet's bridge with no tag of their
 * own. It cannot prove idempotence against a real SDN state (the fake never lists ours).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createProxmoxBackend,
  type ProxmoxBackend,
  ProxmoxClient,
} from '../../src/backends/proxmox/index.ts';
import { guestName, networkSetName } from '../../src/backends/proxmox/names.ts';
import { vnetName } from '../../src/backends/proxmox/sdn.ts';
import { type BackendContext, BackendError, type InstanceDesired } from '../../src/datum/backend.ts';
import { type FakePve, startFakePve } from '../../src/localenv/emulators/fakepve/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { proxmoxConfig } from './proxmox-fixtures.ts';

const INSTALLATION = 'sdn-test';
const owner = (name: string) => ({
  cluster: 'c',
  namespace: 'n',
  kind: 'Instance' as const,
  name,
  uid: `u-${name}`,
});

describe('proxmox: networks as SDN vnets (fakepve)', { timeout: 120_000 }, () => {
  let pve: FakePve;
  let backend: ProxmoxBackend;
  let config: Record<string, string>;
  before(async () => {
    pve = await startFakePve();
    config = { ...proxmoxConfig(pve, INSTALLATION), networkMode: 'sdn', sdnZone: 'datum' };
    backend = createProxmoxBackend({ backendConfig: config });
  });
  after(async () => {
    await backend?.close();
    await pve?.stop();
  });
  const ctx = (): BackendContext => ({
    credentials: { source: 'Secret', data: { tokenId: pve.tokenId, tokenSecret: pve.tokenSecret } },
    config,
    location: { namespace: 'n', name: 'dfw', topology: { 'topology.datum.net/city-code': 'DFW' } },
    log: createLogger({ level: 'error', sink: () => {} }),
    signal: AbortSignal.timeout(30_000),
  });
  const log = async () =>
    (await pve.control<[string, string, string][]>({ op: 'requests', bodies: true })).map(
      ([m, p, b]) => [m, p.replace('/api2/json', ''), b] as const,
    );
  const sdnSince = async (from: number) =>
    (await log()).slice(from).filter(([, p]) => p.startsWith('/cluster/sdn'));
  /** Error answers on SDN paths since `skip` (refusals a test caused on purpose are skipped). */
  let skip = 0;
  const refusedSdn = async () =>
    (await pve.control<[string, string, number, string][]>({ op: 'refusals' }))
      .slice(skip)
      .filter(([, p]) => p.includes('/cluster/sdn'));
  const client = () =>
    new ProxmoxClient({
      endpoint: pve.endpoint,
      tokenId: pve.tokenId,
      tokenSecret: pve.tokenSecret,
      trust: { kind: 'fingerprint', sha256: pve.fingerprint },
    });
  const form = (b: string) => Object.fromEntries(new URLSearchParams(b));
  const network = (id: string) =>
    backend.ensureNetwork(ctx(), { id, owner: owner(id), ipv4Cidr: '10.128.0.0/9', mtu: 1500 });

  it('refuses networkMode=sdn without a zone, and an unknown mode', () => {
    assert.throws(
      () => createProxmoxBackend({ backendConfig: { ...config, sdnZone: '' } }),
      (e: BackendError) => e.reason === 'InvalidConfiguration' && /sdnZone/.test(e.message),
    );
    assert.throws(
      () => createProxmoxBackend({ backendConfig: { ...config, networkMode: 'ovs' } }),
      /"bridge" .* or "sdn"/,
    );
  });

  it('creates a vnet and a subnet with parameters PVE accepts, applies each, and attaches guests to the vnet', async () => {
    const from = (await log()).length;
    const net = await network('net-a');
    const vnet = vnetName(INSTALLATION, 'net-a');
    assert.equal(net.providerId, `sdn/datum/${vnet}`);
    await backend.ensureSubnet(ctx(), {
      id: 'sub-a',
      owner: owner('sub-a'),
      networkId: 'net-a',
      cidr: '10.130.0.0/24',
    });
    const sdn = await sdnSince(from);
    assert.deepEqual(
      sdn.map(([m, p]) => `${m} ${p}`),
      [
        'GET /cluster/sdn/vnets',
        'POST /cluster/sdn/vnets',
        'PUT /cluster/sdn',
        `GET /cluster/sdn/vnets/${vnet}/subnets`,
        `POST /cluster/sdn/vnets/${vnet}/subnets`,
        'PUT /cluster/sdn',
      ],
    );
    const vnetTag = Number(form(sdn[1]![2]).tag);
    assert.deepEqual(form(sdn[1]![2]), {
      vnet,
      zone: 'datum',
      tag: String(vnetTag),
      alias: `datum ${networkSetName(INSTALLATION, 'net-a')}`,
    });
    assert.ok(vnetTag >= 100 && vnetTag <= 3999, 'the tag from vlanRange');
    assert.deepEqual(form(sdn[4]![2]), { subnet: '10.130.0.0/24', type: 'subnet', gateway: '10.130.0.1' });
    assert.deepEqual(await refusedSdn(), [], "PVE's schema accepted every SDN request");
    // The check is live: a vnet id PVE would refuse is refused, in PVE's words.
    const pc = client();
    const bad = await pc
      .post('/cluster/sdn/vnets', { vnet: `${vnet}x`, zone: 'datum' }, ctx())
      .catch((e: unknown) => e);
    assert.match(
      String((bad as { pveMessage?: string }).pveMessage),
      /vnet: value may only be 8 characters long/,
    );
    skip = (await pve.control<unknown[]>({ op: 'refusals' })).length;
    // The apply is a task we waited for (if the fake answers with one).
    const all = (await log()).slice(from).map(([m, p]) => `${m} ${p}`);
    const applied = all.lastIndexOf('PUT /cluster/sdn');
    assert.ok(
      all.slice(applied + 1).some((r) => /^GET \/nodes\/[^/]+\/tasks\/UPID.*\/status$/.test(r)),
      `the apply task was awaited: ${all.slice(applied).join(', ')}`,
    );

    const d: InstanceDesired = {
      id: 'ct-a',
      owner: owner('ct-a'),
      instanceType: 'datumcloud/d1-standard-2',
      runtime: {
        kind: 'sandbox',
        containers: [{ name: 'app', image: 'nginx:1.27', env: [], ports: [], files: [] }],
      },
      interfaces: [{ networkId: 'net-a', subnetId: 'sub-a', ingress: [] }],
      sshKeys: [],
      templateHash: 'h1',
    };
    const obs = await backend.ensureInstance(ctx(), d);
    const [, node, , vmid] = /^([^/]+)\/(lxc)\/(\d+)$/.exec(obs.providerId) ?? [];
    assert.ok(vmid, obs.providerId);
    const cfg = await pc.get<Record<string, string>>(`/nodes/${node}/lxc/${vmid}/config`, undefined, ctx());
    assert.match(cfg.net0 ?? '', new RegExp(`bridge=${vnet}(,|$)`));
    assert.doesNotMatch(cfg.net0 ?? '', /tag=/, 'the vnet carries the tag');
    assert.equal(cfg.hostname, guestName(INSTALLATION, 'ct-a'));

    // Deleting: the guest, then the SDN subnet (PVE's subnet id), then the vnet, each applied.
    for (let i = 0; i < 20 && !(await backend.deleteInstance(ctx(), 'ct-a')).gone; i++)
      await new Promise((r) => setTimeout(r, 100));
    const del = (await log()).length;
    assert.equal((await backend.deleteSubnet(ctx(), 'sub-a')).gone, true);
    assert.equal((await backend.deleteNetwork(ctx(), 'net-a')).gone, true);
    assert.deepEqual(
      (await sdnSince(del)).map(([m, p]) => `${m} ${p}`),
      [
        `DELETE /cluster/sdn/vnets/${vnet}/subnets/datum-10.130.0.0-24`,
        'PUT /cluster/sdn',
        `DELETE /cluster/sdn/vnets/${vnet}`,
        'PUT /cluster/sdn',
      ],
    );
    assert.deepEqual(await refusedSdn(), []);
  });

  it('takes PVE\'s "already defined" as created, and reports a missing zone in PVE\'s words', async () => {
    await pve.control({
      op: 'fail',
      method: 'POST',
      suffix: '/cluster/sdn/vnets',
      error: 'sdn_vnet_object_id_already',
      times: 1,
    });
    const ok = await network('net-b');
    assert.equal(ok.ready, true);
    const refused = await refusedSdn();
    assert.equal(refused.length, 1, JSON.stringify(refused));
    assert.equal(refused[0]![2], 500);
    assert.match(refused[0]![3], /sdn vnet object ID '.*' already defined/);

    await pve.control({
      op: 'fail',
      method: 'POST',
      suffix: '/cluster/sdn/vnets',
      error: 'sdn_zone_does_not_exist',
      times: 1,
    });
    const err = await network('net-c').catch((e: unknown) => e);
    assert.ok(err instanceof BackendError, `${err}`);
    assert.equal(err.reason, 'InvalidConfiguration');
    assert.match(err.message, /sdn zone '.*' does not exist.*sdnZone/);
  });
});
