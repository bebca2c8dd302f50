/** The contract suite's waiting rules without a control plane: what counts as terminal, and cascades. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { BackendError, type ResourceOwner } from '../../src/datum/backend.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { Prerequisites } from '../../src/testkit/contract/prerequisites.ts';
import { stopAll } from '../../src/testkit/contract/teardown.ts';
import {
  describeConditions,
  eventually,
  FailureLedger,
  observedBackend,
  SuiteWaitError,
  terminalCondition,
} from '../../src/testkit/contract/wait.ts';

const inst = (reason: string, status = 'False', observedGeneration = 2): KubeObject => ({
  kind: 'Instance',
  metadata: { name: 'web-0', namespace: 'p', generation: 2 },
  status: {
    conditions: [
      { type: 'Programmed', status, reason, message: `why ${reason}`, observedGeneration },
      { type: 'Running', status: 'Unknown', reason: 'Pending', message: 'waiting' },
    ],
  },
});
const owner: ResourceOwner = { cluster: 'c', namespace: 'p', kind: 'Instance', name: 'web-0', uid: 'u' };

describe('contract suite waits', () => {
  it('treats refusals of the current generation as terminal, progress and stale verdicts not', () => {
    assert.equal(
      terminalCondition(inst('UnsupportedRuntime'), ['Programmed'])?.condition.reason,
      'UnsupportedRuntime',
    );
    assert.equal(terminalCondition(inst('ProgrammingInProgress'), ['Programmed']), undefined);
    assert.equal(
      terminalCondition(inst('UnsupportedRuntime', 'False', 1), ['Programmed']),
      undefined,
      'stale',
    );
    assert.equal(terminalCondition(inst('UnsupportedRuntime', 'True'), ['Programmed']), undefined);
    assert.equal(terminalCondition(inst('UnsupportedRuntime'), ['Available']), undefined, 'other type');
  });

  it('treats a reason as terminal when the backend threw it non-retryable for that object', async () => {
    const ledger = new FailureLedger();
    assert.equal(terminalCondition(inst('PlatformSaysNo'), ['Programmed'], ledger), undefined);
    const backend = new InMemoryBackend({ pendingMs: 1 });
    const watched = observedBackend(
      new Proxy(backend, {
        get: (t, p) =>
          p === 'ensureInstance'
            ? async () => {
                throw new BackendError('PlatformSaysNo' as 'Unsupported', 'no', { retryable: false });
              }
            : Reflect.get(t, p, t),
      }),
      ledger,
    );
    await assert.rejects(watched.ensureInstance({} as never, { owner } as never), /no/);
    assert.match(terminalCondition(inst('PlatformSaysNo'), ['Programmed'], ledger)!.why, /non-retryable/);
    assert.equal(watched.name, backend.name, 'everything else passes through');
  });

  it('describes conditions and names what a timed-out wait waited for', async () => {
    assert.match(describeConditions(inst('X')), /Programmed=False reason X: "why X"; Running=Unknown/);
    assert.equal(describeConditions(undefined), '(object not found)');
    const err = await eventually(
      async () => false,
      'the thing',
      300,
      () => 'it is still off',
    ).catch((e) => e);
    assert.ok(err instanceof SuiteWaitError && !err.terminal);
    assert.match(err.message, /timed out after 300 ms waiting for the thing; state: it is still off/);
  });

  it('fails later tests at once naming the first failure', async () => {
    const p = new Prerequisites();
    p.require('networking');
    await assert.rejects(
      p.guard('networking', 'NetworkContext p/x was never Programmed', async () => {
        throw new Error('Subnet missing\nmore detail');
      }),
    );
    assert.throws(
      () => p.require('networking'),
      /^Error: skipped because NetworkContext p\/x was never Programmed: Subnet missing$/,
    );
  });

  it('runs every teardown step even when one fails', async () => {
    const ran: number[] = [];
    await assert.rejects(
      stopAll([
        async () => ran.push(1),
        async () => {
          throw new Error('boom');
        },
        async () => ran.push(3),
      ]),
      /boom/,
    );
    assert.deepEqual(ran, [1, 3]);
  });
});
