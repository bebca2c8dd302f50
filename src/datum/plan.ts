/**
 * `datum-provider plan`: what the provider would do on the platform for each Instance it serves (create,
 * update and which fields, delete, nothing), computed from the same desired state the reconciler builds and
 * the backend's read-only `planInstance`. Nothing is written anywhere: not the platform, not the cluster.
 */
import type { HttpClient } from '../runtime/client/client.ts';
import type { Logger } from '../runtime/log/logger.ts';
import { Manager } from '../runtime/manager/manager.ts';
import { INSTANCE, LOCATION, NETWORK_CONTEXT, SUBNET, WORKLOAD_DEPLOYMENT } from './api/resources.ts';
import type { Instance, Location, NetworkContext, Subnet, WorkloadDeployment } from './api/types.ts';
import type { Backend } from './backend.ts';
import { instanceLocation, networkContextName, ownsLocation, subnetName } from './classic.ts';
import { installationId } from './installation.ts';
import { ProviderConfigResolver } from './providerconfig.ts';
import { classify, networkId, objectContext, type ProviderContext, subnetId } from './reconcilers/common.ts';
import { ownerOf } from './reconcilers/instance.ts';
import { buildDesired, capabilitiesFor, Refusal, validate } from './reconcilers/instance-desired.ts';
import { adoptTarget, managementPolicy } from './reconcilers/management.ts';
import { recordedPlacement } from './reconcilers/placement.ts';
import { Redactor } from './redact.ts';
import type { ProviderSettings } from './settings.ts';

export interface PlanLine {
  kind: 'Instance';
  namespace: string;
  name: string;
  /** create | update | delete | adopt | none | refused | waiting | unsupported | skipped */
  action: string;
  details: string[];
}

export interface PlanOptions {
  client: HttpClient;
  home: HttpClient;
  settings: ProviderSettings;
  backend: Backend;
  log: Logger;
  namespace?: string;
  name?: string;
  /** The cluster name owners carry (`single` in single-cluster mode). */
  cluster?: string;
}

export async function planInstances(o: PlanOptions): Promise<PlanLine[]> {
  const redactor = new Redactor();
  const p: ProviderContext = {
    mgr: new Manager({ log: o.log }),
    home: o.home,
    installation: () => installationId(o.home, o.settings),
    backend: o.backend,
    settings: o.settings,
    resolver: new ProviderConfigResolver(o.home, o.settings, redactor, { log: o.log }),
    redactor,
    log: o.log,
  };
  const ns = o.namespace ? { namespace: o.namespace } : {};
  const [instances, wds, contexts, subnets] = await Promise.all([
    o.client.list<Instance>(INSTANCE, ns),
    o.client.list<WorkloadDeployment>(WORKLOAD_DEPLOYMENT, ns),
    o.client.list<NetworkContext>(NETWORK_CONTEXT, ns),
    o.client.list<Subnet>(SUBNET, ns),
  ]);
  const locations = (await o.client.list<Location>(LOCATION)).items;
  const signal = new AbortController().signal;
  const out: PlanLine[] = [];
  for (const inst of instances.items) {
    if (o.name && inst.metadata.name !== o.name) continue;
    const line = (action: string, details: string[] = []): PlanLine => ({
      kind: 'Instance',
      namespace: inst.metadata.namespace!,
      name: inst.metadata.name!,
      action,
      details: details.map((d) => redactor.redact(d)),
    });
    const where = instanceLocation(inst, (n, name) =>
      wds.items.find((w) => w.metadata.namespace === n && w.metadata.name === name),
    );
    const loc = locations.find(
      (l) => l.metadata.name === where?.name && l.metadata.namespace === where?.namespace,
    );
    if (!ownsLocation(loc, o.settings.locationClassName)) {
      if (o.name) out.push(line('skipped', ['not in a Location this provider serves']));
      continue;
    }
    if (managementPolicy(inst) !== 'Full') {
      out.push(line('none', ['management policy ObserveOnly: the provider never changes it']));
      continue;
    }
    if (inst.metadata.deletionTimestamp) {
      out.push(line('delete'));
      continue;
    }
    try {
      const caps = await capabilitiesFor(
        p,
        loc!,
        recordedPlacement(inst)?.providerConfig,
        o.cluster ?? 'single',
      );
      if (!caps.plan || !o.backend.planInstance) {
        out.push(line('unsupported', [`plan not supported by ${o.backend.name}`]));
        continue;
      }
      validate(inst, caps, o.backend.name);
      const nics = inst.spec!.networkInterfaces.map((nic) => {
        const n = nic.network.namespace ?? inst.metadata.namespace!;
        const ctxName = networkContextName(nic.network.name, where!);
        const ctx = contexts.items.find((c) => c.metadata.name === ctxName && c.metadata.namespace === n);
        const sub = subnets.items.find(
          (s) => s.metadata.name === subnetName(ctxName) && s.metadata.namespace === n,
        );
        if (!ctx || !sub)
          throw new Refusal(
            'NetworkNotReady',
            `NetworkContext ${n}/${ctxName} or its Subnet does not exist yet`,
            true,
          );
        return { networkId: networkId(ctx), subnetId: subnetId(sub) };
      });
      const desired = await buildDesired(
        inst,
        ownerOf(o.cluster ?? 'single', inst, 'Instance'),
        nics,
        o.client,
      );
      const target = (await objectContext(p, o.cluster ?? 'single', inst, loc, o.log, signal))!;
      const adopt = adoptTarget(inst);
      const plan = await o.backend.planInstance(target.bctx, desired);
      if (adopt && plan.action === 'create')
        out.push(line('adopt', [`take ${adopt} over, then converge it`]));
      else out.push(line(plan.action, plan.changes));
    } catch (err) {
      if (err instanceof Refusal)
        out.push(line(err.transient ? 'waiting' : 'refused', [`${err.reason}: ${err.message}`]));
      else {
        const c = classify(err);
        out.push(line('error', [`${c.reason}: ${c.message}`]));
      }
    }
  }
  return out;
}

export function formatPlan(lines: PlanLine[]): string {
  if (lines.length === 0) return 'No Instances served by this provider.\n';
  const words: Record<string, string> = { none: 'nothing to do' };
  return lines
    .map((l) => {
      const head = `${l.kind} ${l.namespace}/${l.name}: ${words[l.action] ?? l.action}`;
      return [head, ...l.details.map((d) => `    ${d}`)].join('\n');
    })
    .join('\n')
    .concat('\n');
}
