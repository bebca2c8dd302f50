/**
 * Management controls on an Instance, as Crossplane has them:
 * - `infra.provider-ts.io/adopt: <platform id>`: take an existing platform instance over instead of creating
 *   one. The backend writes our ownership marks on it (refusing, with `AdoptionConflict`, one that carries
 *   another installation's or another object's marks); the normal ensure then converges it.
 * - `infra.provider-ts.io/management-policy: ObserveOnly`: report Programmed and Running from what exists on
 *   the platform and never create, change or delete anything; deleting the object leaves the platform alone.
 *   With the adopt annotation too, the instance observed is that platform instance.
 */
import type { ReconcileContext, Result } from '../../runtime/controller/reconcile.ts';
import type { Cluster } from '../../runtime/manager/cluster.ts';
import { INSTANCE } from '../api/resources.ts';
import type { Instance, Location } from '../api/types.ts';
import type { BackendCapabilities, BackendContext, InstanceDesired } from '../backend.ts';
import { CONDITION } from '../classic.ts';
import { PROVIDER_GROUP } from '../settings.ts';
import {
  CREDENTIALS_RECHECK_MS,
  classify,
  cond,
  FINALIZER,
  objectContext,
  type ProviderContext,
  writeStatus,
} from './common.ts';
import {
  capabilitiesFor,
  instanceId,
  Refusal,
  runningCondition,
  templateHashOf,
} from './instance-desired.ts';
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

/** The policy an object asks for; undefined when the annotation holds something else. */
export function managementPolicy(obj: {
  metadata: { annotations?: Record<string, string> };
}): ManagementPolicy | undefined {
  const a = obj.metadata.annotations?.[MANAGEMENT_POLICY_ANNOTATION];
  if (a === undefined) return 'Full';
  const v = a.trim().toLowerCase();
  return v === 'observeonly' ? 'ObserveOnly' : v === 'full' || v === '' ? 'Full' : undefined;
}

export function adoptTarget(obj: { metadata: { annotations?: Record<string, string> } }): string | undefined {
  return obj.metadata.annotations?.[ADOPT_ANNOTATION]?.trim() || undefined;
}

/**
 * Before an ensure: adopt the annotated platform instance (once: an Instance already programmed as it skips
 * the call). Refuses when the backend cannot adopt; a conflict comes back as the backend's error.
 */
export async function adoptIfAsked(
  p: ProviderContext,
  bctx: BackendContext,
  inst: Instance,
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
      // The converge message, not ObserveOnly's (switching from ObserveOnly to Full must still adopt).
      c.message === `Instance has been programmed as ${target}`,
  );
  if (!done) await p.backend.adoptInstance(bctx, target, desired);
}

/**
 * Instead of converging: an invalid policy is refused; ObserveOnly reads the platform and reports. Returns
 * `'full'` when the Instance is fully managed (converge as usual).
 */
export async function observeIfAsked(
  p: ProviderContext,
  cluster: Cluster,
  inst: Instance,
  loc: Location,
  rc: ReconcileContext,
): Promise<Result | undefined | 'full'> {
  const policy = managementPolicy(inst);
  if (policy === 'Full') return 'full';
  const gen = inst.metadata.generation;
  const programmed = (status: 'True' | 'False', reason: string, message: string) =>
    cond(CONDITION.Programmed, status, reason, message, gen);
  const report = (reason: string, message: string) =>
    writeStatus(cluster, INSTANCE, inst, [programmed('False', reason, message)], {}, p.redactor);
  if (!policy) {
    await report(
      MANAGEMENT_REASON.InvalidManagementPolicy,
      `annotation ${MANAGEMENT_POLICY_ANNOTATION} is '${inst.metadata.annotations![MANAGEMENT_POLICY_ANNOTATION]!.slice(0, 40)}', not Full or ObserveOnly; nothing is done until it is fixed`,
    );
    return;
  }
  let caps: BackendCapabilities;
  try {
    caps = await capabilitiesFor(p, loc, recordedPlacement(inst)?.providerConfig, cluster.name);
  } catch (err) {
    // No usable ProviderConfig (missing, or not this project's): say so; a ProviderConfig edit can lift it.
    if (!(err instanceof Refusal)) throw err;
    await report(err.reason, err.message);
    return { requeueAfter: CREDENTIALS_RECHECK_MS };
  }
  if (!caps.observe || !p.backend.observeInstance) {
    await report(
      MANAGEMENT_REASON.Unsupported,
      `the ${p.backend.name} backend cannot observe without managing (management policy ObserveOnly)`,
    );
    return;
  }
  const target = (await objectContext(p, cluster.name, inst, loc, rc.log, rc.signal))!;
  if (!target.recorded) inst = await claim(cluster.client, INSTANCE, inst, FINALIZER, target.placement);
  const providerId = adoptTarget(inst);
  let observed: Awaited<ReturnType<NonNullable<typeof p.backend.observeInstance>>>;
  try {
    observed = await p.backend.observeInstance(target.bctx, { id: instanceId(inst), providerId });
  } catch (err) {
    const c = classify(err);
    await report(c.reason, c.message);
    return { requeueAfter: c.retry ? 5_000 : p.settings.resyncSeconds * 1000 };
  }
  if (!observed) {
    await writeStatus(
      cluster,
      INSTANCE,
      inst,
      [
        programmed(
          'False',
          MANAGEMENT_REASON.NotFound,
          `management policy ObserveOnly: ${providerId ?? 'no instance of this Instance'} exists on the platform, and the provider creates nothing`,
        ),
        cond(CONDITION.Running, 'False', MANAGEMENT_REASON.NotFound, 'Nothing to observe', gen),
      ],
      {},
      p.redactor,
    );
    return { requeueAfter: p.settings.resyncSeconds * 1000 };
  }
  const [rs, rr, rm] = runningCondition(observed.powerState, inst, caps, observed);
  await writeStatus(
    cluster,
    INSTANCE,
    inst,
    [
      programmed(
        'True',
        MANAGEMENT_REASON.Observed,
        `management policy ObserveOnly: observed, never changed by the provider: ${observed.providerId}`,
      ),
      cond(CONDITION.Running, rs, rr, rm, gen),
    ],
    {
      // compute dereferences status.controller whenever Programmed=True.
      controller: { observedTemplateHash: templateHashOf(inst) },
      networkInterfaces: (inst.spec?.networkInterfaces ?? []).map((_, i) => ({
        assignments: observed.addresses[i] ?? {},
      })),
    },
    p.redactor,
  );
  return { requeueAfter: observed.powerState === 'running' ? p.settings.resyncSeconds * 1000 : 2000 };
}

/** Deleting an ObserveOnly Instance: nothing on the platform is ours to delete or release. */
export function leavesPlatformAlone(inst: Instance): boolean {
  return managementPolicy(inst) === 'ObserveOnly';
}
