/** The in-memory backend's state file holds no secret values, yet still sees them change. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import type { BackendContext, InstanceDesired, ResourceOwner } from '../../src/datum/backend.ts';
import { silentLogger } from '../../src/runtime/log/logger.ts';

const ctx: BackendContext = {
  credentials: { source: 'InjectedIdentity' },
  config: {},
  location: { namespace: 'default', name: 'dfw', topology: {} },
  log: silentLogger,
  signal: new AbortController().signal,
};
const owner: ResourceOwner = {
  cluster: 'c',
  namespace: 'default',
  kind: 'Instance',
  name: 'web-0',
  uid: 'u1',
};
const b64 = (s: string) => Buffer.from(s).toString('base64');

function desired(envSecret: string, fileSecret: string): InstanceDesired {
  return {
    id: 'inst-u1',
    owner,
    instanceType: 'datumcloud/d1-standard-2',
    interfaces: [],
    sshKeys: [],
    templateHash: 'h1', // the same on purpose: the backend must not rely on it to see a secret change
    runtime: {
      kind: 'sandbox',
      containers: [
        {
          name: 'app',
          image: 'nginx',
          ports: [],
          env: [
            { name: 'DB_PASSWORD', value: envSecret, sensitive: true },
            { name: 'MODE', value: 'production-mode', sensitive: false },
          ],
          files: [
            { path: '/etc/tls.key', data: b64(fileSecret), sensitive: true },
            { path: '/etc/app.conf', data: b64('plain-config-text'), sensitive: false },
          ],
        },
      ],
    },
  };
}

describe('in-memory backend state file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inmemory-state-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stores digests of sensitive env values and files, and counts a changed secret as a change', async () => {
    const stateFile = join(dir, 'state.json');
    const backend = new InMemoryBackend({ stateFile });
    await backend.ensureInstance(ctx, desired('env-secret-1111', 'file-secret-2222'));
    const text = readFileSync(stateFile, 'utf8');
    for (const secret of ['env-secret-1111', 'file-secret-2222', b64('file-secret-2222')])
      assert.ok(!text.includes(secret), `${secret} written to the state file`);
    // Non-sensitive values stay readable; sensitive ones are digests.
    assert.ok(text.includes('production-mode'));
    assert.ok(text.includes(b64('plain-config-text')));
    const [stored] = backend.snapshot().instances;
    const c = stored!.desired.runtime.kind === 'sandbox' ? stored!.desired.runtime.containers[0]! : undefined;
    assert.match(c!.env[0]!.value, /^sha256:[0-9a-f]{64}$/);
    assert.match(c!.files[0]!.data, /^sha256:[0-9a-f]{64}$/);
    assert.equal(stored!.revision, 1);

    // The same desired state again: no change. A new secret value (same template hash): a change.
    await backend.ensureInstance(ctx, desired('env-secret-1111', 'file-secret-2222'));
    assert.equal(backend.snapshot().instances[0]!.revision, 1);
    await backend.ensureInstance(ctx, desired('env-secret-3333', 'file-secret-2222'));
    assert.equal(backend.snapshot().instances[0]!.revision, 2);
    await backend.ensureInstance(ctx, desired('env-secret-3333', 'file-secret-4444'));
    assert.equal(backend.snapshot().instances[0]!.revision, 3);
    const after = readFileSync(stateFile, 'utf8');
    for (const secret of ['env-secret-3333', 'file-secret-4444'])
      assert.ok(!after.includes(secret), `${secret} written to the state file`);

    // A second process on the same file (the crash tests) sees the same digests: no spurious change.
    const other = new InMemoryBackend({ stateFile });
    await other.ensureInstance(ctx, desired('env-secret-3333', 'file-secret-4444'));
    assert.equal(other.snapshot().instances[0]!.revision, 3);
  });
});

describe('in-memory backend addresses', () => {
  it('hands out distinct addresses in a subnet, also after deletes (a per-subnet counter, no scan)', async () => {
    const b = new InMemoryBackend();
    await b.ensureNetwork(ctx, { id: 'net-1', owner, ipv4Cidr: '10.0.0.0/16', mtu: 1460 });
    await b.ensureSubnet(ctx, { id: 'sub-1', owner, networkId: 'net-1', cidr: '10.0.0.0/24' });
    const make = (n: number) => ({
      ...desired('s', 'f'),
      id: `inst-${n}`,
      interfaces: [{ networkId: 'net-1', subnetId: 'sub-1', ingress: [] }],
    });
    const ips: string[] = [];
    for (const n of [1, 2, 3]) ips.push((await b.ensureInstance(ctx, make(n))).addresses[0]!.networkIP!);
    assert.deepEqual(ips, ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    await b.deleteInstance(ctx, 'inst-1');
    // The old count-the-instances scan handed .4 out again here (two live instances, one address).
    const again = (await b.ensureInstance(ctx, make(4))).addresses[0]!.networkIP;
    assert.equal(again, '10.0.0.5');
    const live = b.snapshot().instances.map((i) => i.addresses[0]!.networkIP);
    assert.equal(new Set(live).size, live.length);
  });
});
