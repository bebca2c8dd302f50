/**
 * Contract check for backends with `planInstance`, in either generation (plan follows `settings.generation`):
 * plan says create for an Instance not yet applied (held with the pause annotation, so the provider makes no
 * call for it), then, once the provider converged it, nothing to do. The Instance is deleted again at the end, so the suite's later checks see what they expect.
 */
import assert from 'node:assert/strict';
import { INSTANCE } from '../../datum/api/resources.ts';
import type { Instance } from '../../datum/api/types.ts';
import { planInstances } from '../../datum/plan.ts';
import { PAUSED_ANNOTATION, PAUSED_CONDITION } from '../../datum/reconcilers/pause.ts';
import type { ProviderSettings } from '../../datum/settings.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { isNotFound } from '../../runtime/client/errors.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import type { Logger } from '../../runtime/log/logger.ts';
import { instanceObject } from './fixtures.ts';
import type { ContractHandle } from './suite.ts';
import { condOf, eventually } from './suite.ts';

export async function planTest(o: {
  client: HttpClient;
  handle: ContractHandle;
  settings: ProviderSettings;
  log: Logger;
  ns: string;
  cluster: string;
  runtime: 'sandbox' | 'virtualMachine';
  networkPolicy: boolean;
  /** The cell suite's Instance (default: the classic one in Location dfw). */
  instance?: (name: string) => KubeObject;
  /** The condition saying it runs: classic Running, cell Available. */
  running?: 'Running' | 'Available';
}): Promise<void> {
  const name = 'planned-0';
  const obj =
    o.instance?.(name) ??
    instanceObject({
      name,
      namespace: o.ns,
      location: { name: 'dfw', namespace: o.ns },
      runtime: o.runtime,
      networkPolicy: o.networkPolicy,
    });
  obj.metadata.annotations = { ...obj.metadata.annotations, [PAUSED_ANNOTATION]: 'true' };
  const inst = await o.client.create<Instance>(INSTANCE, obj);
  const get = () => o.client.get<Instance>(INSTANCE, name, o.ns);
  const plan = async () => {
    const lines = await planInstances({
      client: o.client,
      home: o.client,
      settings: o.settings,
      backend: o.handle.backend,
      log: o.log,
      namespace: o.ns,
      name,
      cluster: o.cluster,
    });
    assert.equal(lines.length, 1, JSON.stringify(lines));
    return lines[0]!;
  };
  await eventually(async () => condOf(await get(), PAUSED_CONDITION)?.status === 'True', 'held by pause');
  // The networking may still be being programmed: plan waits for it like the provider would.
  const first = await eventually(async () => {
    const l = await plan();
    return l.action === 'waiting' ? undefined : l;
  }, 'a plan');
  const supported = o.handle.backend.capabilities().plan === true;
  if (supported)
    assert.deepEqual({ action: first.action, details: first.details }, { action: 'create', details: [] });
  // A backend without planInstance is reported as such: the plan never guesses.
  else
    assert.deepEqual(
      { action: first.action, details: first.details },
      { action: 'unsupported', details: [`plan not supported by ${o.handle.backend.name}`] },
    );
  assert.equal((await o.handle.owned(inst.metadata.uid!)).length, 0, 'plan created nothing');
  await o.client.patch(INSTANCE, name, o.ns, {
    type: 'merge',
    patch: { metadata: { annotations: { [PAUSED_ANNOTATION]: null } } },
  });
  if (supported) {
    await eventually(
      async () => {
        const i = await get();
        const running = o.running ?? 'Running';
        return condOf(i, 'Programmed')?.status === 'True' && condOf(i, running)?.status === 'True';
      },
      `${name} Programmed and ${o.running ?? 'Running'}`,
    );
    const again = await plan();
    assert.deepEqual({ action: again.action, details: again.details }, { action: 'none', details: [] });
  }
  await o.client.delete(INSTANCE, name, o.ns);
  await eventually(
    () =>
      get().then(
        () => false,
        (e) => isNotFound(e),
      ),
    `${name} deleted`,
  );
}
