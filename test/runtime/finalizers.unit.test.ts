/** Finalizer writes: a stale copy (the JSON patch `test` op fails with 422) surfaces as a conflict. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, InvalidError } from '../../src/runtime/client/errors.ts';
import type { Client } from '../../src/runtime/client/interface.ts';
import type { KubeObject, ResourceType } from '../../src/runtime/client/types.ts';
import { addFinalizer, removeFinalizer } from '../../src/runtime/util/finalizers.ts';

const R: ResourceType = { group: 'x.io', version: 'v1', kind: 'Thing', plural: 'things', namespaced: true };

function clientFailingWith(err: Error): Client {
  return { patch: async () => Promise.reject(err) } as unknown as Client;
}

describe('finalizers', () => {
  const obj: KubeObject = {
    metadata: { name: 'a', namespace: 'n', resourceVersion: '7', finalizers: ['other/f'] },
  };
  const testFailed = new InvalidError(
    422,
    'Invalid',
    'the server rejected our request due to an error in our request',
  );

  it('report a failed resourceVersion test as a conflict, not as invalid input', async () => {
    await assert.rejects(addFinalizer(clientFailingWith(testFailed), R, obj, 'ours/f'), ConflictError);
    await assert.rejects(
      removeFinalizer(
        clientFailingWith(testFailed),
        R,
        { ...obj, metadata: { ...obj.metadata, finalizers: ['ours/f'] } },
        'ours/f',
      ),
      ConflictError,
    );
  });

  it('keep a real validation error (with causes) as it is', async () => {
    const invalid = new InvalidError(422, 'Invalid', 'Thing "a" is invalid', {
      causes: [{ field: 'metadata.finalizers', message: 'bad name' }],
    } as never);
    await assert.rejects(addFinalizer(clientFailingWith(invalid), R, obj, 'ours/f'), InvalidError);
  });
});
