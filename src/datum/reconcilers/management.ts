/**
 * Management controls on an Instance, as Crossplane has them:
 * - `infra.provider-ts.io/adopt: <platform id>`: take an existing platform instance over instead of creating
 *   one. The backend writes our ownership marks on it (refusing, with `AdoptionConflict`, one that carries
 *   another installation's or another object's marks); the normal ensure then converges it.
 * - `infra.provider-ts.io/management-policy: ObserveOnly`: report Programmed and Running from what exists on
 *   the platform and never create, change or delete anything; deleting the object leaves the platform alone.
 *   With the adopt annotation too, the instance observed is that platform instance.
 * Both generations' Instance reconcilers use them; each writes the outcome in its own conditions.
 */
import type { KubeObject } from '../../runtime/client/types.ts';
import type { ReconcileContext, Result } from '../../runtime/controller/reconcile.ts';
import type { Cluster } from '../../runtime/manager/cluster.ts';
import { removeFinalizer } from '../../runtime/util/finalizers.ts';
import { INSTANCE } from '../api/resources.ts';
import type { Location } from '../api/types.ts';
import type { BackendCapabilities, BackendContext, InstanceDesired, InstanceObserved } from '../backend.ts';
import { CONDITION } from '../classic.ts';
import { PROVIDER_GROUP } from '../settings.ts';
import {
  CREDENTIALS_RECHECK_MS,
  classify,
  FINALIZER,
  objectContext,
  type ProviderContext,
} from './common.ts';
import { capabilitiesFor, instanceId, Refusal } from './instance-desired.ts';
import { claim, recordedPlacement } from './placement.ts';

export const ADOPT_ANNOTATION = `${PROVIDER_GROUP}/adopt`;
export const MANAGEMENT_POLICY_ANNOTATION = `${PROVIDER_GROUP}/management-policy`;

/** Condition reasons of these controls (beside the backend's `AdoptionConflict`). */
export const MANAGEMENT_REASON = {
  Observed: 'Observed',
  NotFound: 'NotFound',
  Unsupported: 'Unsupported',
  InvalidManagementPolicy: 'InvalidManagementPolicy',
} as const;

export type ManagementPolicy = 'Full' | 'ObserveOnly';

type Annotated = { metadata: { annotations?: Record<string, string> } };

/** The policy an object asks for; undefined when the annotation holds something else. */
export function managementPolicy(obj: Annotated): ManagementPolicy | undefined {
  const a = obj.metadata.annotations?.[MANAGEMENT_POLICY_ANNOTATION];
  if (a === undefined) return 'Full';
  const v = a.trim().toLowerCase();
  return v === 'observeonly' ? 'ObserveOnly' : v === 'full' || v === '' ? 'Full' : undefined;
}

export function adoptTarget(obj: Annotated): string | undefined {
  return obj.metadata.annotations?.[ADOPT_ANNOTATION]?.trim() || undefined;
}

/**
 * Before an ensure: adopt the annotated platform instance (once: an Instance already programmed as it skips
 * the call). Refuses when the backend cannot adopt; a conflict comes back as the backend's error.
 */
export async function adoptIfAsked(
  p: ProviderContext,
  bctx: BackendContext,
  inst: KubeObject,
  desired: InstanceDesired,
  caps: BackendCapabilities,
): Promise<void> {
  const target = adoptTarget(inst);
  if (!target) return;
  if (!caps.adopt || !p.backend.adoptInstance)
    throw new Refusal(
      MANAGEMENT_REASON.Unsupported,
      `the ${p.backend.name} backend cannot adopt existing resources (annotation ${ADOPT_ANNOTATION}); remove the annotation to create a new instance`,
    );
  const done = (inst.status?.conditions ?? []).some(
    (c: { type: string; status: string; message?: string }) =>
      c.type === CONDITION.Programmed &&
      c.status === 'True' &&
      // The converge message (both generations), not ObserveOnly's (switching from ObserveOnly to Full must still adopt).
      c.message === `Instance has been programmed as ${target}`,
  );
  if (!done) await p.backend.adoptInstance(bctx, target, desired);
}

/** How a generation writes what ObserveOnly finds, in its own condition types and reasons. */
export interface ObserveReport<T extends KubeObject> {
  /** Programmed=False with a classic `reason`: an invalid policy, no observe, a failed read. */
  notProgrammed(inst: T, reason: string, message: string, transient: boolean): Promise<void>;
  /** Nothing exists on the platform to observe (reason NotFound). */
  missing(inst: T, message: string): Promise<void>;
  /** Programmed=True from the platform instance as it is; `message` names it. */
  observed(inst: T, observed: InstanceObserved, caps: BackendCapabilities, message: string): Promise<void>;
}

/**
 * Instead of converging: an invalid policy is refused; ObserveOnly reads the platform and reports through
 * `report`. Returns `'full'` when the Instance is fully managed (converge as usual).
 */
export async function observeIfAsked<T extends KubeObject>(
  p: ProviderContext,
  cluster: Cluster,
  inst: T,
  loc: Location,
  rc: ReconcileContext,
  report: ObserveReport<T>,
): Promise<Result | undefined | 'full'> {
  const policy = managementPolicy(inst);
  if (policy === 'Full') return 'full';
  if (!policy) {
    await report.notProgrammed(
      inst,
      MANAGEMENT_REASON.InvalidManagementPolicy,
      `annotation ${MANAGEMENT_POLICY_ANNOTATION} is '${inst.metadata.annotations![MANAGEMENT_POLICY_ANNOTATION]!.slice(0, 40)}', not Full or ObserveOnly; nothing is done until it is fixed`,
      false,
    );
    return;
  }
  let caps: BackendCapabilities;
  try {
    caps = await capabilitiesFor(p, loc, recordedPlacement(inst)?.providerConfig, cluster.name);
  } catch (err) {
    // No usable ProviderConfig (missing, or not this project's): say so; a ProviderConfig edit can lift it.
    if (!(err instanceof Refusal)) throw err;
    await report.notProgrammed(inst, err.reason, err.message, false);
    return { requeueAfter: CREDENTIALS_RECHECK_MS };
  }
  if (!caps.observe || !p.backend.observeInstance) {
    await report.notProgrammed(
      inst,
      MANAGEMENT_REASON.Unsupported,
      `the ${p.backend.name} backend cannot observe without managing (management policy ObserveOnly)`,
      false,
    );
    return;
  }
  const target = (await objectContext(p, cluster.name, inst, loc, rc.log, rc.signal))!;
  if (!target.recorded) inst = await claim(cluster.client, INSTANCE, inst, FINALIZER, target.placement);
  const providerId = adoptTarget(inst);
  let observed: InstanceObserved | undefined;
  try {
    observed = await p.backend.observeInstance(target.bctx, { id: instanceId(inst), providerId });
  } catch (err) {
    const c = classify(err);
    await report.notProgrammed(inst, c.reason, c.message, c.retry);
    return { requeueAfter: c.retry ? 5_000 : p.settings.resyncSeconds * 1000 };
  }
  if (!observed) {
    await report.missing(
      inst,
      `management policy ObserveOnly: ${providerId ? `${providerId} does not exist` : 'no instance of this Instance exists'} on the platform, and the provider creates nothing`,
    );
    return { requeueAfter: p.settings.resyncSeconds * 1000 };
  }
  await report.observed(
    inst,
    observed,
    caps,
    `management policy ObserveOnly: observed, never changed by the provider: ${observed.providerId}`,
  );
  return { requeueAfter: observed.powerState === 'running' ? p.settings.resyncSeconds * 1000 : 2000 };
}

/**
 * Deleting an ObserveOnly Instance: nothing on the platform is ours to delete or release, so the finalizer
 * comes off at once (with an Event saying so). True when that applied.
 */
export async function letGoIfObserveOnly(cluster: Cluster, inst: KubeObject): Promise<boolean> {
  if (!leavesPlatformAlone(inst)) return false;
  cluster.recorder.event(inst, 'Normal', 'ObserveOnly', 'Management policy ObserveOnly: platform left alone');
  await removeFinalizer(cluster.client, INSTANCE, inst, FINALIZER);
  return true;
}

/** An ObserveOnly Instance: its platform instance is not ours (nor is anything it would share with ours). */
export function leavesPlatformAlone(inst: Annotated): boolean {
  return managementPolicy(inst) === 'ObserveOnly';
}
