/**
 * `datum-provider plan`: what the provider would do on the platform for each Instance it serves (create,
 * update and which fields, delete, nothing), computed from the same desired state the reconciler builds and
 * the backend's read-only `planInstance`. Nothing is written anywhere: not the platform, not the cluster.
 * One call plans one cluster (a project in Milo mode; `single`, or the cell); the generation picks the rules.
 */
import type { HttpClient } from '../runtime/client/client.ts';
import type { Logger } from '../runtime/log/logger.ts';
import { Manager } from '../runtime/manager/manager.ts';
import { INSTANCE, LOCATION, NETWORK_CONTEXT, SUBNET, WORKLOAD_DEPLOYMENT } from './api/resources.ts';
import type { Instance, Location, NetworkContext, Subnet, WorkloadDeployment } from './api/types.ts';
import type { Backend, InstanceDesired } from './backend.ts';
import { instanceLocation, networkContextName, ownsLocation, REASON, subnetName } from './classic.ts';
import { installationId } from './installation.ts';
import { planCellInstances } from './plan-cell.ts';
import { CredentialsError, ProviderConfigResolver } from './providerconfig.ts';
import { classify, networkId, objectContext, type ProviderContext, subnetId } from './reconcilers/common.ts';
import { ownerOf } from './reconcilers/instance.ts';
import { buildDesired, capabilitiesFor, Refusal, validate } from './reconcilers/instance-desired.ts';
import { adoptTarget, managementPolicy } from './reconcilers/management.ts';
import { recordedPlacement } from './reconcilers/placement.ts';
import { Redactor } from './redact.ts';
import { generationOf, type ProviderSettings } from './settings.ts';

export interface PlanLine {
  /** Instance; Project for a project that could not be planned at all. */
  kind: 'Instance' | 'Project';
  /** The cluster planned: the project's name in Milo mode, else `single`. */
  cluster: string;
  namespace: string;
  name: string;
  /** create | update | delete | adopt | none | refused | waiting | unsupported | skipped | error */
  action: string;
  details: string[];
}

/** Actions that would change the platform (`--exit-code` exits 2 when any is planned). */
export const CHANGES: ReadonlySet<string> = new Set(['create', 'update', 'delete', 'adopt']);

export interface PlanOptions {
  client: HttpClient;
  home: HttpClient;
  settings: ProviderSettings;
  backend: Backend;
  log: Logger;
  namespace?: string;
  name?: string;
  /** The cluster name owners carry, and the project ProviderConfigs are chosen for (default `single`). */
  cluster?: string;
  /** Milo mode: the labels of the cluster's Project, where its ProviderConfig label is read. */
  projectLabels?: Readonly<Record<string, string>>;
}

/** What planning one cluster needs beyond the options: the provider's context, as the reconcilers see it. */
export interface PlanScope {
  o: PlanOptions;
  p: ProviderContext;
  cluster: string;
  signal: AbortSignal;
  line(
    inst: { metadata: { namespace?: string; name?: string } },
    action: string,
    details?: string[],
  ): PlanLine;
}

export async function planInstances(o: PlanOptions): Promise<PlanLine[]> {
  const redactor = new Redactor();
  const cluster = o.cluster ?? 'single';
  const p: ProviderContext = {
    mgr: new Manager({ log: o.log }),
    home: o.home,
    installation: () => installationId(o.home, o.settings),
    backend: o.backend,
    settings: o.settings,
    resolver: new ProviderConfigResolver(o.home, o.settings, redactor, {
      log: o.log,
      projectLabels: (project) => (project === cluster ? o.projectLabels : undefined),
    }),
    redactor,
    log: o.log,
  };
  const scope: PlanScope = {
    o,
    p,
    cluster,
    signal: new AbortController().signal,
    line: (inst, action, details = []) => ({
      kind: 'Instance',
      cluster,
      namespace: inst.metadata.namespace!,
      name: inst.metadata.name!,
      action,
      details: details.map((d) => redactor.redact(d)),
    }),
  };
  return generationOf(o.settings) === 'cell' ? planCellInstances(scope) : planClassic(scope);
}

async function planClassic(s: PlanScope): Promise<PlanLine[]> {
  const { o, p } = s;
  const ns = o.namespace ? { namespace: o.namespace } : {};
  const [instances, wds, contexts, subnets] = await Promise.all([
    o.client.list<Instance>(INSTANCE, ns),
    o.client.list<WorkloadDeployment>(WORKLOAD_DEPLOYMENT, ns),
    o.client.list<NetworkContext>(NETWORK_CONTEXT, ns),
    o.client.list<Subnet>(SUBNET, ns),
  ]);
  const locations = (await o.client.list<Location>(LOCATION)).items;
  const out: PlanLine[] = [];
  for (const inst of instances.items) {
    if (o.name && inst.metadata.name !== o.name) continue;
    const where = instanceLocation(inst, (n, name) =>
      wds.items.find((w) => w.metadata.namespace === n && w.metadata.name === name),
    );
    const loc = locations.find(
      (l) => l.metadata.name === where?.name && l.metadata.namespace === where?.namespace,
    );
    if (!ownsLocation(loc, o.settings.locationClassName)) {
      if (o.name) out.push(s.line(inst, 'skipped', ['not in a Location this provider serves']));
      continue;
    }
    const early = managedOrDeleted(s, inst);
    if (early) {
      out.push(early);
      continue;
    }
    out.push(
      await planOne(s, inst, async () => {
        const caps = await capabilitiesFor(p, loc!, recordedPlacement(inst)?.providerConfig, s.cluster);
        if (!caps.plan || !o.backend.planInstance) return unsupported(s, inst);
        validate(inst, caps, o.backend.name);
        const nics = inst.spec!.networkInterfaces.map((nic) => {
          const n = nic.network.namespace ?? inst.metadata.namespace!;
          const ctxName = networkContextName(nic.network.name, where!);
          const ctx = contexts.items.find((c) => c.metadata.name === ctxName && c.metadata.namespace === n);
          const sub = subnets.items.find(
            (x) => x.metadata.name === subnetName(ctxName) && x.metadata.namespace === n,
          );
          if (!ctx || !sub)
            throw new Refusal(
              'NetworkNotReady',
              `NetworkContext ${n}/${ctxName} or its Subnet does not exist yet`,
              true,
            );
          return { networkId: networkId(ctx), subnetId: subnetId(sub) };
        });
        const desired = await buildDesired(inst, ownerOf(s.cluster, inst, 'Instance'), nics, o.client);
        return askBackend(s, inst, loc!, desired);
      }),
    );
  }
  return out;
}

/** ObserveOnly and deletion: decided before anything is computed, in both generations. */
export function managedOrDeleted(
  s: PlanScope,
  inst: Instance | { metadata: Instance['metadata'] },
): PlanLine | undefined {
  if (managementPolicy(inst) !== 'Full')
    return s.line(inst, 'none', ['management policy ObserveOnly: the provider never changes it']);
  if (inst.metadata.deletionTimestamp) return s.line(inst, 'delete');
  return undefined;
}

export function unsupported(s: PlanScope, inst: { metadata: Instance['metadata'] }): PlanLine {
  return s.line(inst, 'unsupported', [`plan not supported by ${s.p.backend.name}`]);
}

/** The backend's read-only verdict on a desired state, where the object's resource lives (or would). */
export async function askBackend(
  s: PlanScope,
  inst: { metadata: Instance['metadata'] },
  loc: Location,
  desired: InstanceDesired,
): Promise<PlanLine> {
  const target = (await objectContext(s.p, s.cluster, inst, loc, s.p.log, s.signal))!;
  const plan = await s.p.backend.planInstance!(target.bctx, desired);
  const adopt = adoptTarget(inst);
  if (adopt && plan.action === 'create')
    return s.line(inst, 'adopt', [`take ${adopt} over, then converge it`]);
  return s.line(inst, plan.action, plan.changes);
}

/** Refusals the provider re-checks on a timer, but that only an operator's edit lifts: not "waiting". */
const NEEDS_AN_OPERATOR: ReadonlySet<string> = new Set([
  REASON.ProviderConfigNotPermitted,
  REASON.CredentialsUnavailable,
]);

/**
 * One Instance's plan; a refusal is what the provider would write as its condition (a ProviderConfig that
 * does not serve the project included: it is never replaced by another), anything else is an error.
 */
export async function planOne(
  s: PlanScope,
  inst: { metadata: Instance['metadata'] },
  body: () => Promise<PlanLine>,
): Promise<PlanLine> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof Refusal) {
      const waits = err.transient && !NEEDS_AN_OPERATOR.has(err.reason);
      return s.line(inst, waits ? 'waiting' : 'refused', [`${err.reason}: ${err.message}`]);
    }
    const c = classify(err);
    return s.line(inst, err instanceof CredentialsError ? 'refused' : 'error', [`${c.reason}: ${c.message}`]);
  }
}

/** The human table. With `projects`, each line names its project (Milo mode). */
export function formatPlan(lines: PlanLine[], opts: { projects?: boolean } = {}): string {
  if (lines.length === 0) return 'No Instances served by this provider.\n';
  const words: Record<string, string> = { none: 'nothing to do' };
  return lines
    .map((l) => {
      const what = l.kind === 'Project' ? `Project ${l.name}` : `${l.kind} ${l.namespace}/${l.name}`;
      const where = opts.projects && l.kind !== 'Project' ? ` in project ${l.cluster}` : '';
      const head = `${what}${where}: ${words[l.action] ?? l.action}`;
      return [head, ...l.details.map((d) => `    ${d}`)].join('\n');
    })
    .join('\n')
    .concat('\n');
}

/** `--output json`: one object per line of the plan, in one array. */
export function planJson(lines: PlanLine[]): string {
  return `${JSON.stringify(
    lines.map((l) => ({
      kind: l.kind,
      cluster: l.cluster,
      namespace: l.namespace,
      name: l.name,
      action: l.action,
      details: l.details,
    })),
    null,
    2,
  )}\n`;
}

/** 1 when anything could not be planned; else, with `detailed` (Terraform's -detailed-exitcode), 2 if changes. */
export function planExitCode(lines: PlanLine[], detailed: boolean): number {
  if (lines.some((l) => l.action === 'error')) return 1;
  return detailed && lines.some((l) => CHANGES.has(l.action)) ? 2 : 0;
}
