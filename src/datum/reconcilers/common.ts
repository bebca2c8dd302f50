/** What every Datum reconciler shares: the provider context, backend contexts, and the single status write. */

import type { HttpClient } from '../../runtime/client/client.ts';
import type { Condition, KubeObject, ResourceType } from '../../runtime/client/types.ts';
import type { Logger } from '../../runtime/log/logger.ts';
import type { Cluster } from '../../runtime/manager/cluster.ts';
import type { Manager } from '../../runtime/manager/manager.ts';
import type { ConditionInput } from '../../runtime/util/conditions.ts';
import { conditionsEqual, mergeConditions, setCondition } from '../../runtime/util/conditions.ts';
import { LOCATION } from '../api/resources.ts';
import type { Location } from '../api/types.ts';
import { type Backend, type BackendContext, BackendError } from '../backend.ts';
import { ownsLocation, REASON } from '../classic.ts';
import { transientErrors } from '../metrics.ts';
import { CredentialsError, type ProviderConfigResolver } from '../providerconfig.ts';
import type { Redactor } from '../redact.ts';
import { PROVIDER_GROUP, type ProviderSettings } from '../settings.ts';
import {
  candidateContexts,
  currentPlacement,
  type Placement,
  pendingPlacementCondition,
  placementContext,
  recordedConfig,
  recordedPlacement,
} from './placement.ts';

/** Our finalizer on Instances, NetworkContexts, Subnets and Networks. */
export const FINALIZER = `${PROVIDER_GROUP}/provider`;

export interface ProviderContext {
  mgr: Manager;
  /** The provider's own cluster: ProviderConfigs and credential Secrets. */
  home: HttpClient;
  /** This installation's identity (src/datum/installation.ts), tagged on every backend resource. */
  installation(): Promise<string>;
  backend: Backend;
  settings: ProviderSettings;
  resolver: ProviderConfigResolver;
  redactor: Redactor;
  log: Logger;
}

/** The Location an object refers to, from the cache, and whether it is ours. */
export function locationOf(
  cluster: Cluster,
  ref: { name: string; namespace: string } | undefined,
  settings: ProviderSettings,
): { loc?: Location; ours: boolean } {
  if (!ref) return { ours: false };
  const loc = cluster.cache.informerFor<Location>(LOCATION).get(ref.name, ref.namespace);
  return { loc, ours: ownsLocation(loc, settings.locationClassName) };
}

/**
 * Where an object of a project (its cluster's name) has its backend resource: its recorded placement, else
 * where its Location is served now for the project (`recorded: false`: record it before the first backend
 * call). Undefined when neither is known. A ProviderConfig that does not serve the project is refused here
 * (CredentialsError, ProviderConfigNotPermitted): every backend context of an object comes through this.
 */
export async function objectContext(
  p: ProviderContext,
  project: string,
  obj: KubeObject,
  loc: Location | undefined,
  log: Logger,
  signal: AbortSignal,
): Promise<{ bctx: BackendContext; placement: Placement; recorded: boolean } | undefined> {
  const rec = recordedPlacement(obj);
  if (rec) {
    const config = await recordedConfig(p, project, rec);
    return { bctx: await placementContext(p, rec, loc, log, signal, config), placement: rec, recorded: true };
  }
  if (!loc) return undefined;
  const { placement, config } = await currentPlacement(p, project, loc);
  return {
    bctx: await placementContext(p, placement, loc, log, signal, config),
    placement,
    recorded: false,
  };
}

/**
 * Deletes an object's backend resource where it lives: with its recorded placement (or its Location's), or,
 * when neither is known any more, in every place it could be. True once it is gone everywhere asked.
 */
export async function deleteWhereItLives(
  p: ProviderContext,
  project: string,
  obj: KubeObject,
  loc: Location | undefined,
  where: { namespace: string; name: string } | undefined,
  log: Logger,
  signal: AbortSignal,
  remove: (bctx: BackendContext) => Promise<{ gone: boolean }>,
): Promise<boolean> {
  let gone = true;
  for (const bctx of await contextsWhereItLives(p, project, obj, loc, where, log, signal))
    if (!(await remove(bctx)).gone) gone = false;
  return gone;
}

/** Where an object's backend resource lives: its known place, else every place it could be. */
export async function contextsWhereItLives(
  p: ProviderContext,
  project: string,
  obj: KubeObject,
  loc: Location | undefined,
  where: { namespace: string; name: string } | undefined,
  log: Logger,
  signal: AbortSignal,
): Promise<BackendContext[]> {
  // Never placed because its Location's ProviderConfig does not serve the project: nothing was created with
  // it, so only the places the project may use are asked (none: nothing to delete).
  const known = await objectContext(p, project, obj, loc, log, signal).catch((err) => {
    if (
      !recordedPlacement(obj) &&
      err instanceof CredentialsError &&
      err.reason === REASON.ProviderConfigNotPermitted
    )
      return undefined;
    throw err;
  });
  return known
    ? [known.bctx]
    : candidateContexts(p, project, where ?? { namespace: '', name: '' }, log, signal);
}

/** Backend ids of a NetworkContext's network and a Subnet's subnet: stable for the object's lifetime. */
export function networkId(ctx: KubeObject): string {
  return `net-${ctx.metadata.uid}`;
}

export function subnetId(subnet: KubeObject): string {
  return `subnet-${subnet.metadata.uid}`;
}

export function cond(
  type: string,
  status: Condition['status'],
  reason: string,
  message: string,
  generation?: number,
): ConditionInput {
  return { type, status, reason, message, observedGeneration: generation };
}

/**
 * The one status write of a reconcile: our condition types merged into the server's list (other writers'
 * conditions kept), plus any other status fields we own. Guarded by resourceVersion so a concurrent writer
 * causes a retry instead of a lost update. Skipped when nothing changes. A placement record still only in
 * the claim's annotation is copied into its condition here (see placement.ts).
 */
export async function writeStatus(
  cluster: Cluster,
  r: ResourceType,
  obj: KubeObject,
  conditions: ConditionInput[],
  fields: Record<string, unknown>,
  redactor: Redactor,
): Promise<boolean> {
  const placement = pendingPlacementCondition(obj);
  if (placement) conditions = [...conditions, placement];
  const current: Condition[] = obj.status?.conditions ?? [];
  let ours: Condition[] = current;
  for (const c of conditions)
    ours = setCondition(ours, { ...c, message: redactor.redact(c.message).slice(0, 32_000) });
  const merged = mergeConditions(
    current,
    ours,
    conditions.map((c) => c.type),
  );
  const changedFields = Object.entries(fields).some(([k, v]) => canonical(obj.status?.[k]) !== canonical(v));
  if (conditionsEqual(current, merged) && !changedFields) return false;
  await cluster.client.patchStatus(r, obj.metadata.name!, obj.metadata.namespace, {
    type: 'merge',
    patch: {
      metadata: { resourceVersion: obj.metadata.resourceVersion },
      status: { ...fields, conditions: merged },
    },
  });
  return true;
}

/** JSON with object keys sorted: the API server returns a CRD's maps with sorted keys, not in our order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );
}

/** Programmed=True for the object's current generation: what the platform runs matches the spec. */
export function programmedNow(obj: KubeObject): boolean {
  const c = (obj.status?.conditions as Condition[] | undefined)?.find((x) => x.type === 'Programmed');
  return c?.status === 'True' && c.observedGeneration === obj.metadata.generation;
}

/**
 * Transient trouble (a retryable backend error, an upstream dependency briefly not ready) on an object that
 * is programmed for its current generation: the last good condition still describes the platform, so it is
 * kept; the trouble goes to an Event and a metric, and the reconcile retries. True when that applies.
 */
export function keepLastGood(
  p: ProviderContext,
  cluster: Cluster,
  obj: KubeObject,
  transient: boolean,
  reason: string,
  message: string,
): boolean {
  if (!transient || !programmedNow(obj)) return false;
  transientErrors(p.mgr.metrics.registry).inc({ kind: obj.kind ?? 'unknown', reason });
  cluster.recorder.event(
    obj,
    'Warning',
    reason,
    p.redactor.redact(`${message} (still programmed; retrying)`),
  );
  return true;
}

/** Backend failures split into "tell the user and wait for a change" and "retry with backoff". */
export function classify(err: unknown): {
  retry: boolean;
  reason: string;
  message: string;
  retryAfterMs?: number;
} {
  if (err instanceof Error && err.name === 'CredentialsError') {
    const reason = (err as Partial<CredentialsError>).reason ?? REASON.CredentialsUnavailable;
    return { retry: false, reason, message: err.message };
  }
  if (err instanceof BackendError) {
    return {
      retry: err.retryable,
      reason: err.reason === 'Throttled' || err.reason === 'Transient' ? 'ProgrammingInProgress' : err.reason,
      message: err.message,
      retryAfterMs: err.retryAfterMs,
    };
  }
  return {
    retry: true,
    reason: 'ProgrammingInProgress',
    message: err instanceof Error ? err.message : String(err),
  };
}

export function hasCondition(obj: KubeObject, type: string, status: string): boolean {
  return (
    (obj.status?.conditions as Condition[] | undefined)?.some(
      (c) => c.type === type && c.status === status,
    ) ?? false
  );
}

/** How soon a refusal that a ProviderConfig edit can lift (credentials, permission) is looked at again. */
export const CREDENTIALS_RECHECK_MS = 30_000;

/**
 * A teardown that cannot finish says why on the object, finalizer held:
 * - its ProviderConfig no longer serves the object's project (ProviderConfigNotPermitted): rechecked later;
 * - the platform refuses for a lasting reason (e.g. DependencyNotReady: something not ours still uses the
 *   network): the condition carries the backend's reason and message, and the error goes back to the caller
 *   for the queue's backoff. Throttling and transient trouble go back unrecorded (no write per blip).
 */
export async function holdTeardown(
  p: ProviderContext,
  cluster: Cluster,
  r: ResourceType,
  obj: KubeObject,
  err: unknown,
  conditionType: string,
): Promise<{ requeueAfter: number }> {
  if (err instanceof BackendError && err.reason !== 'Throttled' && err.reason !== 'Transient') {
    const changed = await writeStatus(
      cluster,
      r,
      obj,
      [cond(conditionType, 'False', err.reason, `deletion waits: ${err.message}`, obj.metadata.generation)],
      {},
      p.redactor,
    );
    if (changed) cluster.recorder.event(obj, 'Warning', err.reason, p.redactor.redact(err.message));
    throw err;
  }
  if (!(err instanceof CredentialsError) || err.reason !== REASON.ProviderConfigNotPermitted) throw err;
  const changed = await writeStatus(
    cluster,
    r,
    obj,
    [cond(conditionType, 'False', err.reason, `${err.message} (deletion waits)`, obj.metadata.generation)],
    {},
    p.redactor,
  );
  if (changed) cluster.recorder.event(obj, 'Warning', err.reason, p.redactor.redact(err.message));
  return { requeueAfter: CREDENTIALS_RECHECK_MS };
}

/** Crash-safety test hook: `DATUM_FAILPOINT=<name>` kills the process right after that side effect. */
export function failpoint(name: string): void {
  if (process.env.DATUM_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}
