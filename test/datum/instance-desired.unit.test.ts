import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CAPABILITIES } from '../../src/backends/inmemory/backend.ts';
import { buildDesired, Refusal, validate } from '../../src/datum/reconcilers/instance-desired.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { ForbiddenError, NotFoundError } from '../../src/runtime/client/errors.ts';
import { instanceObject } from '../../src/testkit/contract/fixtures.ts';

const loc = { name: 'dfw', namespace: 'p' };
const owner = { cluster: 'c', namespace: 'p', kind: 'Instance' as const, name: 'x', uid: 'u' };
const nics = [{ networkId: 'net-1', subnetId: 'subnet-1' }];

/** A client that serves a fixed set of ConfigMaps and Secrets (the only calls buildDesired makes). */
function dataClient(objs: Record<string, Record<string, string>>): HttpClient {
  return {
    async get(r: { kind: string }, name: string) {
      const data = objs[`${r.kind}/${name}`];
      if (name === 'forbidden')
        throw new ForbiddenError(403, 'Forbidden', 'secrets "forbidden" is forbidden');
      if (!data) throw new NotFoundError(404, 'NotFound', `${name} not found`);
      return { metadata: { name }, data };
    },
  } as unknown as HttpClient;
}

describe('validation against backend capabilities', () => {
  const refusal = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof Refusal);
      return err;
    }
    assert.fail('expected a refusal');
  };

  it('refuses a runtime the backend does not offer, naming what it does', () => {
    const vm = instanceObject({ name: 'x', namespace: 'p', location: loc, runtime: 'virtualMachine' });
    const err = refusal(() => validate(vm, { ...DEFAULT_CAPABILITIES, runtimes: ['sandbox'] }, 'edge'));
    assert.equal(err.reason, 'UnsupportedRuntime');
    assert.match(
      err.message,
      /virtualMachine runtime is not supported by the edge backend; supported: sandbox/,
    );
  });

  it('refuses unknown images and malformed ssh keys', () => {
    const vm = instanceObject({ name: 'x', namespace: 'p', location: loc, runtime: 'virtualMachine' });
    assert.equal(
      refusal(() => validate(vm, { ...DEFAULT_CAPABILITIES, images: ['other'] }, 'b')).reason,
      'UnknownImage',
    );
    vm.metadata.annotations = { 'compute.datumapis.com/ssh-keys': 'not-a-key-line' };
    assert.match(refusal(() => validate(vm, DEFAULT_CAPABILITIES, 'b')).message, /user:key/);
  });

  it('accepts a well-formed sandbox Instance', () => {
    validate(instanceObject({ name: 'x', namespace: 'p', location: loc }), DEFAULT_CAPABILITIES, 'b');
  });
});

describe('desired state', () => {
  it('resolves named ports, env from ConfigMaps and Secrets, and marks secret content sensitive', async () => {
    const inst = instanceObject({ name: 'x', namespace: 'p', location: loc });
    const c = inst.spec!.runtime.sandbox!.containers[0]!;
    c.env = [
      { name: 'PLAIN', value: 'v' },
      { name: 'FROM_CM', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
      { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
    ];
    c.volumeAttachments = [{ name: 'tls', mountPath: '/etc/tls' }];
    inst.spec!.volumes = [{ name: 'tls', secret: { secretName: 'tls' } }];
    const client = dataClient({
      'ConfigMap/cfg': { mode: 'fast' },
      'Secret/creds': { token: Buffer.from('s3cr3t').toString('base64') },
      'Secret/tls': { 'tls.key': Buffer.from('KEY').toString('base64') },
    });
    const d = await buildDesired(inst, owner, nics, client);
    assert.equal(d.runtime.kind, 'sandbox');
    if (d.runtime.kind !== 'sandbox') return;
    const env = Object.fromEntries(d.runtime.containers[0]!.env.map((e) => [e.name, e]));
    assert.deepEqual([env.PLAIN?.value, env.FROM_CM?.value, env.FROM_SECRET?.value], ['v', 'fast', 's3cr3t']);
    assert.equal(env.FROM_SECRET?.sensitive, true);
    assert.equal(env.FROM_CM?.sensitive, false);
    const file = d.runtime.containers[0]!.files[0]!;
    assert.deepEqual(
      [file.path, Buffer.from(file.data, 'base64').toString(), file.sensitive],
      ['/etc/tls/tls.key', 'KEY', true],
    );
    assert.deepEqual(
      d.interfaces[0]!.ingress[0]!.ports,
      [{ protocol: 'TCP', port: 80, endPort: undefined }],
      'named port http resolved to 80',
    );
    assert.equal(d.id, `inst-${inst.metadata.uid}`);
  });

  it('refuses a network policy naming an undeclared port, and waits for missing referenced data', async () => {
    const inst = instanceObject({ name: 'x', namespace: 'p', location: loc });
    inst.spec!.networkInterfaces[0]!.networkPolicy = { ingress: [{ ports: [{ port: 'metrics' }] }] };
    await assert.rejects(
      buildDesired(inst, owner, nics, dataClient({})),
      (e) => e instanceof Refusal && /port 'metrics'/.test(e.message),
    );
    const inst2 = instanceObject({ name: 'y', namespace: 'p', location: loc });
    inst2.spec!.runtime.sandbox!.containers[0]!.env = [
      { name: 'X', valueFrom: { secretKeyRef: { name: 'absent', key: 'k' } } },
    ];
    await assert.rejects(
      buildDesired(inst2, owner, nics, dataClient({})),
      (e) => e instanceof Refusal && e.reason === 'ReferencedDataNotFound' && e.transient,
    );
  });

  it('says which RoleBinding is missing when the provider may not read referenced data', async () => {
    const inst = instanceObject({ name: 'z', namespace: 'p', location: loc });
    inst.spec!.runtime.sandbox!.containers[0]!.env = [
      { name: 'X', valueFrom: { secretKeyRef: { name: 'forbidden', key: 'k' } } },
    ];
    await assert.rejects(
      buildDesired(inst, owner, nics, dataClient({})),
      (e) =>
        e instanceof Refusal &&
        e.reason === 'ReferencedDataForbidden' &&
        e.transient &&
        /may not read Secret p\/forbidden: bind ClusterRole datum-provider-instance-data in namespace p/.test(
          e.message,
        ),
    );
  });
});
