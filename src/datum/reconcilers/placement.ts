/**
 * Where a backend resource lives: the ProviderConfig (credentials), region and Location it was created with.
 * It is recorded on the upstream object before the first backend call, and every later call, teardown
 * included, uses exactly that record. Without it, a resource whose Location was deleted (or re-mapped to
 * another ProviderConfig or region) would be looked for in the wrong place, found "gone", and left running
 * while its finalizer came off.
 *
 * The record is a status condition of our own type, not an annotation: compute v0.6.0 replaces an Instance's
 * annotations (and labels and spec) with the template's on every template update, so an annotation would be
 * lost, and re-adding it would start a write fight with compute. Upstream keeps conditions it does not know.
 *
 * To keep the first reconcile at one status write, the record is first made as an annotation in the same
 * metadata write that adds our finalizer (so it still precedes the first backend call), and the reconcile's one
 * status write then copies it into the condition. The annotation is never re-added once the condition exists.
 */
import type { HttpClient } from '../../runtime/client/client.ts';
import type { Condition, KubeObject, ResourceType } from '../../runtime/client/types.ts';
import type { Logger } from '../../runtime/log/logger.ts';
import type { ConditionInput } from '../../runtime/util/conditions.ts';
import { addFinalizer } from '../../runtime/util/finalizers.ts';
import type { Location } from '../api/types.ts';
import type { BackendContext } from '../backend.ts';
import { CITY_CODE_KEY, REASON, REGION_KEY } from '../classic.ts';
import { permitsProject } from '../project-providerconfig.ts';
import { CredentialsError, type ProviderConfig, type ResolvedConfig } from '../providerconfig.ts';
import { PROVIDER_GROUP } from '../settings.ts';
import type { ProviderContext } from './common.ts';

export const PLACEMENT_CONDITION = `${PROVIDER_GROUP}/Placement`;
/** The record until the first status write copies it into the condition (see above). */
export const PLACEMENT_ANNOTATION = `${PROVIDER_GROUP}/placement`;

/** The ProviderConfig name recorded when none served the Location (injected identity). */
const NO_PROVIDER_CONFIG = '(none)';

export interface Placement {
  providerConfig: string;
  region?: string;
  location: { namespace: string; name: string };
}

/** The record on an object, or undefined (never written, or removed by another writer). */
export function recordedPlacement(obj: KubeObject): Placement | undefined {
  return parsePlacement(placementConditionMessage(obj) ?? obj.metadata.annotations?.[PLACEMENT_ANNOTATION]);
}

function placementConditionMessage(obj: KubeObject): string | undefined {
  return (obj.status?.conditions as Condition[] | undefined)?.find((c) => c.type === PLACEMENT_CONDITION)
    ?.message;
}

/**
 * The placement condition a status write must add: the annotation's record when the condition is missing
 * (the object's first status write after its claim), else undefined.
 */
export function pendingPlacementCondition(obj: KubeObject): ConditionInput | undefined {
  if (placementConditionMessage(obj)) return undefined;
  const raw = obj.metadata.annotations?.[PLACEMENT_ANNOTATION];
  if (!parsePlacement(raw)) return undefined;
  return placementCondition(raw!, obj.metadata.generation);
}

function placementCondition(message: string, generation: number | undefined): ConditionInput {
  return {
    type: PLACEMENT_CONDITION,
    status: 'True',
    reason: 'Recorded',
    message,
    observedGeneration: generation,
  };
}

function parsePlacement(raw: string | undefined): Placement | undefined {
  if (!raw) return undefined;
  try {
    const p = JSON.parse(raw) as Placement;
    return typeof p.providerConfig === 'string' && p.location?.name ? p : undefined;
  } catch {
    return undefined;
  }
}

/** Where a project's resource for this Location would be created now (project: the cluster name). */
export async function currentPlacement(
  p: ProviderContext,
  project: string,
  loc: Location,
): Promise<{ placement: Placement; config: ResolvedConfig }> {
  const config = await p.resolver.forLocation(loc, project);
  return {
    config,
    placement: {
      providerConfig: config.name,
      region: loc.spec?.topology?.[REGION_KEY] ?? config.region,
      location: { namespace: loc.metadata.namespace!, name: loc.metadata.name! },
    },
  };
}

/**
 * The backend context of a placement; the recorded ProviderConfig must still exist. Not project-checked: an
 * object's placement goes through `recordedConfig` first (objectContext); the sweeper checks each resource.
 */
export async function placementContext(
  p: ProviderContext,
  placement: Placement,
  loc: Location | undefined,
  log: Logger,
  signal: AbortSignal,
  resolved?: ResolvedConfig,
): Promise<BackendContext> {
  const config = resolved ?? (await resolveByName(p.home, p, placement.providerConfig, null));
  const topology = loc?.spec?.topology ?? {};
  return {
    credentials: config.credentials,
    region: placement.region,
    config: { ...p.settings.backendConfig, ...config.config },
    location: { ...placement.location, cityCode: topology[CITY_CODE_KEY], topology },
    installation: await p.installation(),
    log,
    signal,
  };
}

async function resolveByName(
  _home: HttpClient,
  p: ProviderContext,
  name: string,
  project?: string | null,
): Promise<ResolvedConfig> {
  if (name === NO_PROVIDER_CONFIG) return { name, credentials: { source: 'InjectedIdentity' }, config: {} };
  const pc = project === null ? await p.resolver.get(name) : await p.resolver.getFor(name, project);
  if (!pc)
    throw new CredentialsError(
      `ProviderConfig ${name}, with which this resource was created, no longer exists; restore it so ` +
        'the resource can be managed and deleted where it lives',
    );
  return p.resolver.resolve(pc);
}

/**
 * The credentials of an object's recorded placement, for its project: a ProviderConfig that no longer lists
 * the project is refused (CredentialsError, ProviderConfigNotPermitted), never used.
 */
export function recordedConfig(
  p: ProviderContext,
  project: string,
  placement: Placement,
): Promise<ResolvedConfig> {
  return resolveByName(p.home, p, placement.providerConfig, project);
}

/**
 * Our finalizer and the placement record (as an annotation) in one metadata write guarded by resourceVersion:
 * a concurrent change makes it fail and the reconcile retry, never lose either. Returns the updated object.
 */
export async function claim<T extends KubeObject>(
  client: HttpClient,
  r: ResourceType,
  obj: T,
  finalizer: string,
  placement: Placement | undefined,
): Promise<T> {
  if (!placement || recordedPlacement(obj)) return addFinalizer(client, r, obj, finalizer);
  const finalizers = obj.metadata.finalizers ?? [];
  return client.patch<T>(r, obj.metadata.name!, obj.metadata.namespace, {
    type: 'merge',
    patch: {
      metadata: {
        resourceVersion: obj.metadata.resourceVersion,
        finalizers: finalizers.includes(finalizer) ? finalizers : [...finalizers, finalizer],
        annotations: { [PLACEMENT_ANNOTATION]: JSON.stringify(placement) },
      },
    },
  });
}

/**
 * Our finalizer plus, where it can be resolved, the placement record: one write on an object's first
 * reconcile. Credentials trouble leaves the record for later (the reconcile reports it as a condition).
 */
export async function claimObject<T extends KubeObject>(
  p: ProviderContext,
  client: HttpClient,
  r: ResourceType,
  obj: T,
  finalizer: string,
  loc: Location,
  project: string,
): Promise<T> {
  if (obj.metadata.finalizers?.includes(finalizer) && recordedPlacement(obj)) return obj;
  const now = await currentPlacement(p, project, loc).catch(() => undefined);
  return claim(client, r, obj, finalizer, now?.placement);
}

/**
 * The ProviderConfig an object lives with: the recorded one, else the one serving its Location now (for its
 * project; one that does not permit the project is not the object's: undefined). Read for its settings
 * (pause, deletion policy), never its credentials.
 */
export async function providerConfigOf(
  p: ProviderContext,
  project: string,
  obj: KubeObject,
  loc: Location | undefined,
): Promise<ProviderConfig | undefined> {
  const recorded = recordedPlacement(obj)?.providerConfig;
  if (recorded) return p.resolver.getFor(recorded, project).catch(notPermittedAsNone);
  return loc ? p.resolver.select(loc, project).catch(notPermittedAsNone) : undefined;
}

function notPermittedAsNone(err: unknown): undefined {
  if (err instanceof CredentialsError && err.reason === REASON.ProviderConfigNotPermitted) return undefined;
  throw err;
}

/**
 * Every place an unrecorded resource whose Location is gone could be: each ProviderConfig permitting its
 * project, with its region. Deleting by id in each is safe (ids derive from the owner's UID), and only when
 * every one says "gone" is the resource gone.
 */
export async function candidateContexts(
  p: ProviderContext,
  project: string,
  where: { namespace: string; name: string },
  log: Logger,
  signal: AbortSignal,
): Promise<BackendContext[]> {
  const all = await p.resolver.list();
  const out: BackendContext[] = [];
  for (const pc of all) {
    if (!permitsProject(pc, project)) continue;
    const config = await p.resolver.resolve(pc).catch(() => undefined);
    if (!config) continue;
    out.push(
      await placementContext(
        p,
        { providerConfig: config.name, region: config.region, location: where },
        undefined,
        log,
        signal,
        config,
      ),
    );
  }
  // As before, injected identity when no ProviderConfig resolves; but never for a project no ProviderConfig
  // serves (nothing was created for it: there is nothing to look for).
  if (out.length === 0 && (all.length === 0 || all.some((pc) => permitsProject(pc, project))))
    out.push(
      await placementContext(
        p,
        { providerConfig: NO_PROVIDER_CONFIG, location: where },
        undefined,
        log,
        signal,
      ),
    );
  return out;
}
