/**
 * Deletion policy, as Crossplane has it: `Delete` (default) removes the backend resource with its object;
 * `Retain` releases it (the backend removes its ownership marks) and leaves it running, with an Event naming
 * what was left. Set per ProviderConfig (`spec.deletionPolicy`) and overridden per object with the
 * `infra.provider-ts.io/deletion-policy` annotation.
 */
import type { KubeObject } from '../../runtime/client/types.ts';
import type { ReconcileContext } from '../../runtime/controller/reconcile.ts';
import type { Cluster } from '../../runtime/manager/cluster.ts';
import type { Location } from '../api/types.ts';
import { PROVIDER_GROUP } from '../settings.ts';
import { contextsWhereItLives, type ProviderContext } from './common.ts';
import { providerConfigOf } from './placement.ts';

export const DELETION_POLICY_ANNOTATION = `${PROVIDER_GROUP}/deletion-policy`;

export type ReleaseTarget = ['instance' | 'subnet' | 'network', string];

/** The policy for an object, or an error message when its annotation holds something else. */
async function policyOf(
  p: ProviderContext,
  project: string,
  obj: KubeObject,
  loc: Location | undefined,
): Promise<'Delete' | 'Retain' | { invalid: string }> {
  const a = obj.metadata.annotations?.[DELETION_POLICY_ANNOTATION];
  if (a !== undefined) {
    const v = a.trim().toLowerCase();
    if (v === 'retain') return 'Retain';
    if (v === 'delete') return 'Delete';
    return {
      invalid: `annotation ${DELETION_POLICY_ANNOTATION} is '${a.slice(0, 40)}', not Delete or Retain`,
    };
  }
  const pc = await providerConfigOf(p, project, obj, loc);
  return pc?.spec.deletionPolicy === 'Retain' ? 'Retain' : 'Delete';
}

/**
 * Called when an object with our finalizer is being deleted. `delete`: go on deleting. `retained`: released,
 * take the finalizer off. `hold`: an unreadable policy; keep everything (deleting could destroy what the user
 * meant to keep) and say why.
 */
export async function applyDeletionPolicy(
  p: ProviderContext,
  cluster: Cluster,
  obj: KubeObject,
  loc: Location | undefined,
  where: { namespace: string; name: string } | undefined,
  rc: ReconcileContext,
  targets: ReleaseTarget[],
): Promise<'delete' | 'retained' | 'hold'> {
  const policy = await policyOf(p, cluster.name, obj, loc);
  if (policy === 'Delete') return 'delete';
  if (policy !== 'Retain') {
    cluster.recorder.event(obj, 'Warning', 'InvalidDeletionPolicy', `${policy.invalid}; deletion waits`);
    return 'hold';
  }
  const released: string[] = [];
  for (const bctx of await contextsWhereItLives(p, cluster.name, obj, loc, where, rc.log, rc.signal))
    for (const [kind, id] of targets) released.push(...(await p.backend.release(bctx, kind, id)).released);
  cluster.recorder.event(
    obj,
    'Normal',
    'Retained',
    released.length
      ? `Deletion policy Retain: left running on the platform and no longer managed: ${released.join(', ')}`
      : 'Deletion policy Retain: nothing existed on the platform to leave behind',
  );
  return 'retained';
}
