/** The pure parts of adopt / ObserveOnly / plan: the annotation parsers and the desired-state diff. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffInstanceDesired } from '../../src/backends/common/instance-diff.ts';
import type { InstanceDesired } from '../../src/datum/backend.ts';
import {
  ADOPT_ANNOTATION,
  adoptTarget,
  MANAGEMENT_POLICY_ANNOTATION,
  managementPolicy,
} from '../../src/datum/reconcilers/management.ts';

const obj = (annotations?: Record<string, string>) => ({ metadata: { annotations } });

const base: InstanceDesired = {
  id: 'inst-1',
  owner: { cluster: 'c', namespace: 'ns', kind: 'Instance', name: 'web', uid: 'u' },
  instanceType: 'datumcloud/d1-standard-2',
  runtime: {
    kind: 'sandbox',
    containers: [
      {
        name: 'app',
        image: 'nginx:1.27',
        env: [{ name: 'TOKEN', value: 'sha256:aaaa', sensitive: true }],
        ports: [],
        files: [],
      },
    ],
  },
  interfaces: [{ networkId: 'n', subnetId: 's', ingress: [] }],
  sshKeys: [],
  templateHash: 'h1',
};

describe('management annotations', () => {
  it('reads the policy: Full by default, ObserveOnly in any case, anything else invalid', () => {
    assert.equal(managementPolicy(obj()), 'Full');
    assert.equal(managementPolicy(obj({ [MANAGEMENT_POLICY_ANNOTATION]: 'observeonly' })), 'ObserveOnly');
    assert.equal(managementPolicy(obj({ [MANAGEMENT_POLICY_ANNOTATION]: 'Full' })), 'Full');
    assert.equal(managementPolicy(obj({ [MANAGEMENT_POLICY_ANNOTATION]: 'Observe' })), undefined);
  });

  it('reads the adopt target, blank meaning none', () => {
    assert.equal(adoptTarget(obj({ [ADOPT_ANNOTATION]: ' i-0abc ' })), 'i-0abc');
    assert.equal(adoptTarget(obj({ [ADOPT_ANNOTATION]: '  ' })), undefined);
    assert.equal(adoptTarget(obj()), undefined);
  });
});

describe('diffInstanceDesired', () => {
  it('is empty for the same state and names each changed field, never a secret value', () => {
    assert.deepEqual(diffInstanceDesired(base, structuredClone(base)), []);
    const next = structuredClone(base);
    next.instanceType = 'datumcloud/d1-standard-4';
    const c = (next.runtime as { containers: { image: string; env: { value: string }[] }[] }).containers[0]!;
    c.image = 'nginx:1.28';
    c.env[0]!.value = 'sha256:bbbb';
    next.interfaces[0]!.ingress = [{ ports: [{ protocol: 'TCP', port: 80 }], from: [] }];
    next.suspended = true;
    const changes = diffInstanceDesired(base, next);
    assert.deepEqual(changes, [
      'instance type: datumcloud/d1-standard-2 → datumcloud/d1-standard-4',
      'container app image: nginx:1.27 → nginx:1.28',
      'container app: environment',
      'firewall (ingress rules)',
      'power: stop (suspend)',
    ]);
    assert.ok(!changes.join().includes('sha256'), 'no secret digest printed');
  });
});
