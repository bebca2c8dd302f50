/**
 * The GCP backend under faults, against gcplocal behind our proxy (no control plane: the backend alone, with
 * the reconciler's retry played by `converge`): a lost insert answer creates one instance (requestId), 429 and
 * 5xx storms converge, slow operations are awaited, nothing is duplicated or left after deletion, and bad
 * credentials end as CredentialsInvalid without a secret in the message.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createGcpBackend, type GcpBackend } from '../../src/backends/gcp/index.ts';
import { type BackendContext, BackendError, type InstanceDesired } from '../../src/datum/backend.ts';
import {
  type GceEmulator,
  gcplocalInventory,
  startGceEmulator,
} from '../../src/localenv/emulators/gcplocal/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';

const SECRET = 'fault-suite-secret-9d2e71';

describe('gcp backend under faults (gcplocal)', { timeout: 240_000 }, () => {
  let emu: GceEmulator;
  let backend: GcpBackend;
  let config: Record<string, string>;
  const ctx = (over: Partial<BackendContext> = {}): BackendContext => ({
    credentials: { source: 'Secret', data: { note: SECRET } },
    region: emu.region,
    config,
    location: { namespace: 'ns', name: 'dfw', cityCode: 'DFW', topology: {} },
    log: createLogger({ level: 'error', sink: () => {} }),
    signal: new AbortController().signal,
    ...over,
  });
  const owner = (kind: 'Instance' | 'Subnet' | 'NetworkContext', name: string) => ({
    cluster: 'c1',
    namespace: 'ns',
    kind,
    name,
    uid: `uid-${name}`,
  });
  const instance = (id: string): InstanceDesired => ({
    id,
    owner: owner('Instance', id),
    instanceType: 'datumcloud/d1-standard-2',
    runtime: {
      kind: 'sandbox',
      containers: [{ name: 'app', image: 'nginx:1.27', env: [], ports: [], files: [] }],
    },
    interfaces: [
      { networkId: 'net', subnetId: 'sub', ingress: [{ ports: [{ protocol: 'TCP', port: 80 }], from: [] }] },
    ],
    sshKeys: [{ user: 'ops', key: 'ssh-ed25519 AAAAC3Nza ops' }],
    templateHash: 'h1',
  });
  /** The reconciler's part: retry retryable failures until the backend reports what we wait for. */
  async function converge<T>(
    fn: () => Promise<T>,
    done: (v: T) => boolean,
    errors: BackendError[] = [],
  ): Promise<T> {
    for (let i = 0; i < 60; i++) {
      try {
        const v = await fn();
        if (done(v)) return v;
      } catch (err) {
        if (!(err instanceof BackendError) || !err.retryable) throw err;
        errors.push(err);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('did not converge');
  }
  const inventory = () =>
    gcplocalInventory(emu.gcplocalEndpoint, emu.project, {
      zones: ['us-central1-a'],
      regions: ['us-central1'],
    });
  const inserts = (action: string) => emu.proxy.log.filter((e) => e.action === action && e.applied);

  before(async () => {
    emu = await startGceEmulator();
    config = { endpoint: emu.endpoint, project: emu.project, managedBy: 'faults', maxAttempts: '3' };
    backend = createGcpBackend({ backendConfig: config });
  });
  after(async () => {
    await backend?.close();
    await emu?.stop();
  });
  beforeEach(async () => {
    await emu.reset();
    await backend.ensureNetwork(ctx(), {
      id: 'net',
      owner: owner('NetworkContext', 'net'),
      ipv4Cidr: '10.128.0.0/9',
      mtu: 1460,
    });
    await backend.ensureSubnet(ctx(), {
      id: 'sub',
      owner: owner('Subnet', 'sub'),
      networkId: 'net',
      cidr: '10.128.0.0/24',
    });
  });

  async function teardown(ids: string[]): Promise<void> {
    for (const id of ids)
      await converge(
        () => backend.deleteInstance(ctx(), id),
        (r) => r.gone,
      );
    await converge(
      () => backend.deleteSubnet(ctx(), 'sub'),
      (r) => r.gone,
    );
    await converge(
      () => backend.deleteNetwork(ctx(), 'net'),
      (r) => r.gone,
    );
    assert.deepEqual(await inventory(), [], 'nothing left in the emulator');
    assert.deepEqual(await backend.listManaged(ctx()), []);
  }

  it('a lost insert answer creates one instance: the retry carries the same requestId and gets the first operation', async () => {
    emu.proxy.plan({ action: 'instances.insert', fault: { kind: 'lostResponse' }, times: 1 });
    emu.proxy.plan({
      action: 'instances.insert',
      fault: { kind: 'lostResponse', mode: '500' },
      nth: [3],
      times: 1,
    });
    const o = await converge(
      () => backend.ensureInstance(ctx(), instance('lost')),
      (x) => x.powerState === 'running',
    );
    assert.match(o.addresses[0]?.networkIP ?? '', /^10\.128\.0\.\d+$/);
    const calls = emu.proxy.log.filter((e) => e.action === 'instances.insert');
    assert.ok(calls.length >= 2, `the insert was retried (${calls.length} calls)`);
    assert.equal(new Set(calls.map((e) => e.requestId)).size, 1, 'every attempt carried the same requestId');
    assert.equal(inserts('instances.insert').length, 1, 'one insert reached the emulator');
    assert.ok(
      calls.some((e) => e.replayed),
      'a retry was answered from the requestId',
    );
    assert.equal((await inventory()).filter((n) => n.startsWith('instances/')).length, 1);
    await teardown(['lost']);
  });

  it('converges through 429 and 5xx storms on every call, with nothing duplicated', async () => {
    for (const action of [
      'instances.insert',
      'instances.get',
      'zoneOperations.wait',
      'firewalls.insert',
      'firewalls.list',
    ])
      emu.proxy.plan(
        { action, fault: { kind: 'throttle' }, times: 4 },
        { action, fault: { kind: 'unavailable' }, times: 2 },
        { action, fault: { kind: 'internalError' }, times: 2 },
      );
    const errors: BackendError[] = [];
    const o = await converge(
      () => backend.ensureInstance(ctx(), instance('storm')),
      (x) => x.powerState === 'running',
      errors,
    );
    assert.ok(errors.length > 0, 'some attempts gave up and were retried by the reconciler');
    assert.deepEqual(
      [...new Set(errors.map((e) => e.reason))].sort().filter((r) => r !== 'Throttled' && r !== 'Transient'),
      [],
    );
    assert.ok(errors.every((e) => e.retryable));
    assert.ok(o.providerId.endsWith('/instances/dpt-vm-storm-' + o.providerId.split('-').pop()));
    assert.equal(inserts('instances.insert').length, 1, 'one instance insert reached the emulator');
    assert.equal(inserts('firewalls.insert').length, 1, 'one firewall insert reached the emulator');
    const faults = emu.proxy.log.filter((e) => e.fault).length;
    assert.ok(faults >= 20, `${faults} faults injected`);
    await teardown(['storm']);
  });

  it('awaits slow operations: PROVISIONING/STAGING is pending, STOPPING is not gone, DONE is', async () => {
    emu.proxy.timings.instanceInsert = { pendingMs: 500, doneMs: 2_500 };
    emu.proxy.timings.instanceDelete = { pendingMs: 300, doneMs: 2_000 };
    const slow = { ...config, operationWaitSeconds: '0' };
    const c = ctx({ config: slow });
    const first = await backend.ensureInstance(c, instance('slow'));
    assert.equal(first.powerState, 'pending', 'the insert is still running');
    const o = await converge(
      () => backend.ensureInstance(c, instance('slow')),
      (x) => x.powerState === 'running',
    );
    assert.equal(o.upToDate, true);
    assert.equal(inserts('instances.insert').length, 1);
    const del = await backend.deleteInstance(c, 'slow');
    assert.equal(del.gone, false, 'not gone while the delete operation runs');
    assert.ok(
      (await inventory()).some((n) => n.startsWith('instances/')),
      'still there in the emulator',
    );
    await converge(
      () => backend.deleteInstance(c, 'slow'),
      (r) => r.gone,
    );
    assert.equal(emu.proxy.log.filter((e) => e.action === 'instances.delete' && e.applied).length, 1);
    // With time to wait, one call awaits the whole operation through `wait`.
    const waited = await backend.ensureInstance(
      ctx({ config: { ...config, operationWaitSeconds: '10' } }),
      instance('waited'),
    );
    assert.equal(waited.powerState, 'running');
    assert.ok(
      emu.proxy.log.some((e) => e.action === 'zoneOperations.wait' && e.ms >= 1_000),
      'a wait blocked',
    );
    await teardown(['waited']);
  });

  it('starts an instance stopped behind its back, once per stop', async () => {
    const first = await converge(
      () => backend.ensureInstance(ctx(), instance('stopped')),
      (x) => x.powerState === 'running',
    );
    const path = `${emu.endpoint}/compute/v1/${first.providerId}/stop`;
    for (const round of [1, 2]) {
      const res = await fetch(path, { method: 'POST' });
      assert.equal(res.status, 200, await res.text());
      const status = async () =>
        ((await (await fetch(`${emu.endpoint}/compute/v1/${first.providerId}`)).json()) as { status: string })
          .status;
      await converge(status, (st) => st === 'TERMINATED');
      const o = await converge(
        () => backend.ensureInstance(ctx(), instance('stopped')),
        (x) => x.powerState === 'running',
      );
      assert.equal(o.providerId, first.providerId, 'the same machine');
      assert.equal(emu.proxy.log.filter((e) => e.action === 'instances.start' && e.applied).length, round);
    }
    assert.equal(inserts('instances.insert').length, 1);
    await teardown(['stopped']);
  });

  it('maps quota, invalid and operation errors to their catalogue reasons', async () => {
    const reasonOf = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return err instanceof BackendError ? err.reason : `not a BackendError: ${err}`;
      }
      return 'no error';
    };
    emu.proxy.plan({
      action: 'instances.insert',
      fault: { kind: 'error', status: 403, reason: 'quotaExceeded' },
      times: 1,
    });
    assert.equal(await reasonOf(backend.ensureInstance(ctx(), instance('q'))), 'QuotaExceeded');
    emu.proxy.plan({
      action: 'instances.insert',
      fault: { kind: 'operationError', code: 'ZONE_RESOURCE_POOL_EXHAUSTED' },
      times: 1,
    });
    assert.equal(await reasonOf(backend.ensureInstance(ctx(), instance('q'))), 'QuotaExceeded');
    emu.proxy.plan({
      action: 'instances.insert',
      fault: { kind: 'error', status: 400, reason: 'invalid' },
      times: 1,
    });
    assert.equal(await reasonOf(backend.ensureInstance(ctx(), instance('q'))), 'InvalidConfiguration');
    emu.proxy.plan({ action: 'instances.insert', fault: { kind: 'throttle' } });
    assert.equal(await reasonOf(backend.ensureInstance(ctx(), instance('q'))), 'Throttled');
    emu.proxy.clearPlan();
    assert.equal(inserts('instances.insert').length, 0, 'no failed attempt created anything');
    const sensitive = instance('secret');
    if (sensitive.runtime.kind === 'sandbox')
      sensitive.runtime.containers[0]!.env.push({ name: 'TOKEN', value: SECRET, sensitive: true });
    const refused = await backend.ensureInstance(ctx(), sensitive).catch((e: BackendError) => e);
    assert.ok(refused instanceof BackendError && refused.reason === 'Unsupported', String(refused));
    assert.equal(refused.message.includes(SECRET), false);
    await teardown(['q']); // its firewall rule was made before the insert failed
  });

  it('delivers Secret content through Secret Manager, never in metadata, and removes it with the instance', async () => {
    const withSecrets = (): InstanceDesired => {
      const d = instance('secretive');
      if (d.runtime.kind === 'sandbox') {
        d.runtime.containers[0]!.env.push({ name: 'TOKEN', value: SECRET, sensitive: true });
        d.runtime.containers[0]!.files.push({
          path: '/etc/app/key.pem',
          data: Buffer.from(`key ${SECRET}`).toString('base64'),
          mode: 0o400,
          sensitive: true,
        });
      }
      return d;
    };
    const sm = { ...config, secretManager: 'true' };
    const noAccount = await backend.ensureInstance(ctx({ config: sm }), withSecrets()).catch((e) => e);
    assert.ok(
      noAccount instanceof BackendError && noAccount.reason === 'InvalidConfiguration',
      String(noAccount),
    );
    const c = ctx({ config: { ...sm, serviceAccount: 'vm@datum-local.iam.gserviceaccount.com' } });
    const o = await converge(
      () => backend.ensureInstance(c, withSecrets()),
      (x) => x.powerState === 'running',
    );
    const inst = (await (await fetch(`${emu.endpoint}/compute/v1/${o.providerId}`)).json()) as Record<
      string,
      unknown
    >;
    const metadata = JSON.stringify(inst.metadata);
    assert.match(metadata, /fetch-secrets\.sh/, 'the boot script is in the user-data');
    for (const leak of [
      SECRET,
      Buffer.from(SECRET).toString('base64'),
      Buffer.from(`key ${SECRET}`).toString('base64'),
    ])
      assert.equal(metadata.includes(leak), false, 'no secret (nor its base64) in metadata');
    const listed = async () =>
      (
        (await (await fetch(`${emu.endpoint}/v1/projects/${emu.project}/secrets`)).json()) as {
          secrets: { name: string }[];
        }
      ).secrets;
    const secrets = await listed();
    assert.equal(secrets.length, 2, 'one secret per value');
    const values = await Promise.all(
      secrets.map(async (x) => {
        const r = (await (await fetch(`${emu.endpoint}/v1/${x.name}/versions/latest:access`)).json()) as {
          payload: { data: string };
        };
        return Buffer.from(r.payload.data, 'base64').toString();
      }),
    );
    assert.deepEqual(values.sort(), [SECRET, `key ${SECRET}`].sort());
    await converge(
      () => backend.ensureInstance(c, withSecrets()),
      (x) => x.powerState === 'running',
    );
    assert.equal((await listed()).length, 2, 'staging again adds nothing');
    await converge(
      () => backend.deleteInstance(c, 'secretive'),
      (r) => r.gone,
    );
    assert.deepEqual(await listed(), [], 'secrets removed with the instance');
    await teardown([]);
  });

  it('honours the AbortSignal between retries', async () => {
    emu.proxy.plan({ action: 'networks.get', fault: { kind: 'throttle' } });
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(new Error('shutting down')), 300);
    const err = await backend
      .ensureNetwork(ctx({ signal: ac.signal, config: { ...config, maxAttempts: '10' } }), {
        id: 'net',
        owner: owner('NetworkContext', 'net'),
        ipv4Cidr: '10.128.0.0/9',
        mtu: 1460,
      })
      .catch((e: Error) => e);
    assert.match(String(err), /shutting down/);
    assert.ok(
      Date.now() - started < 2_500,
      `stopped after ${Date.now() - started} ms, not after 10 attempts`,
    );
    emu.proxy.clearPlan();
    await teardown([]);
  });

  it('release (Retain) leaves an instance and its firewall rule in place, no longer ours; networks refuse', async () => {
    await converge(
      () => backend.ensureInstance(ctx(), instance('kept')),
      (x) => x.powerState === 'running',
    );
    const { released } = await backend.release(ctx(), 'instance', 'kept');
    assert.equal(released.length, 2, `instance and firewall rule: ${released.join(', ')}`);
    assert.deepEqual(
      (await backend.listManaged(ctx())).filter((m) => m.id === 'kept'),
      [],
    );
    assert.deepEqual(await backend.deleteInstance(ctx(), 'kept'), { gone: true }, 'not ours: left alone');
    const left = await inventory();
    assert.ok(
      left.some((n) => n.startsWith('instances/dpt-vm-kept-')),
      'the instance still runs',
    );
    assert.ok(
      left.some((n) => n.startsWith('firewalls/dpt-fw-')),
      'its firewall rule is still there',
    );
    const again = await backend.ensureInstance(ctx(), instance('kept')).catch((e) => e);
    assert.ok(again instanceof BackendError && again.reason === 'InvalidConfiguration', 'never re-adopted');
    const net = await backend.release(ctx(), 'network', 'net').catch((e) => e);
    assert.ok(net instanceof BackendError && net.reason === 'Unsupported', String(net));
    // The emulator is reset before the next test: what was released stays until then.
  });

  it('bad credentials end as CredentialsInvalid, with no secret in the message', async () => {
    const malformed = ctx({
      credentials: { source: 'Secret', data: { serviceAccountKey: `{"private_key": "${SECRET}"` } },
    });
    const e1 = await backend
      .ensureNetwork(malformed, {
        id: 'n2',
        owner: owner('NetworkContext', 'n2'),
        ipv4Cidr: '10.0.0.0/8',
        mtu: 1460,
      })
      .catch((e) => e);
    assert.ok(e1 instanceof BackendError && e1.reason === 'CredentialsInvalid', String(e1));
    assert.equal(e1.message.includes(SECRET), false);
    const wrongType = ctx({
      credentials: {
        source: 'Secret',
        data: { serviceAccountKey: JSON.stringify({ type: 'authorized_user', refresh_token: SECRET }) },
      },
    });
    const e2 = await backend.listManaged(wrongType).catch((e) => e);
    assert.ok(e2 instanceof BackendError && e2.reason === 'CredentialsInvalid', String(e2));
    assert.equal(e2.message.includes(SECRET), false);
    for (const [status, reason] of [
      [401, 'authError'],
      [403, 'forbidden'],
    ] as const) {
      emu.proxy.plan({
        action: 'instances.insert',
        fault: { kind: 'error', status, reason, message: `token ${SECRET} rejected` },
        times: 1,
      });
      const e = await backend.ensureInstance(ctx(), instance('creds')).catch((x) => x);
      assert.ok(e instanceof BackendError && e.reason === 'CredentialsInvalid', String(e));
      assert.match(e.message, /\[redacted\]/);
      assert.equal(e.message.includes(SECRET), false);
      assert.equal(JSON.stringify(e.cause).includes(SECRET), false);
    }
    await teardown(['creds']);
  });
});
