/**
 * `datum-provider plan` in the cell generation: the cell's ownership rule (runtime class), its gates and
 * suspension, and the same checks and desired state the cell reconciler builds (cell-instance-desired.ts).
 * The namespace network is named, not ensured: its ids follow from the namespace's uid.
 */
import { hasFinalizer } from '../runtime/util/finalizers.ts';
import type { CellInstance, InstanceType, RuntimeClass } from './api/cell-types.ts';
import { INSTANCE, INSTANCE_TYPE, NAMESPACE, RUNTIME_CLASS } from './api/resources.ts';
import {
  cellLocation,
  defaultRuntimeClass,
  isSuspended,
  ownsInstance,
  REASON,
  runtimeClassOf,
  schedulingGates,
} from './cell.ts';
import { askBackend, managedOrDeleted, type PlanLine, type PlanScope, planOne, unsupported } from './plan.ts';
import {
  type CellView,
  cellChecks,
  cellDesired,
  cellInterfaces,
} from './reconcilers/cell-instance-desired.ts';
import { cellNetworkIds } from './reconcilers/cell-network.ts';
import { FINALIZER } from './reconcilers/common.ts';
import { Refusal } from './reconcilers/refusal.ts';
import { defaultCellSettings } from './settings.ts';

export async function planCellInstances(s: PlanScope): Promise<PlanLine[]> {
  const { o, p } = s;
  const cell = o.settings.cell ?? defaultCellSettings();
  const [instances, classes, types, namespaces] = await Promise.all([
    o.client.list<CellInstance>(INSTANCE, o.namespace ? { namespace: o.namespace } : {}),
    o.client.list<RuntimeClass>(RUNTIME_CLASS),
    o.client.list<InstanceType>(INSTANCE_TYPE),
    o.client.list(NAMESPACE),
  ]);
  const view: CellView = {
    name: s.cluster,
    client: o.client,
    instanceType: (n) => types.items.find((t) => t.metadata.name === n),
  };
  const defaultClass = defaultRuntimeClass(classes.items);
  const out: PlanLine[] = [];
  for (const inst of instances.items) {
    if (o.name && inst.metadata.name !== o.name) continue;
    const ours = ownsInstance(inst, cell, defaultClass);
    if (!ours && !hasFinalizer(inst, FINALIZER)) {
      if (o.name)
        out.push(
          s.line(inst, 'skipped', [
            `runtime class ${runtimeClassOf(inst) ?? defaultClass ?? '(none)'} is not served by this provider`,
          ]),
        );
      continue;
    }
    const early = managedOrDeleted(s, inst);
    if (early) {
      out.push(early);
      continue;
    }
    // Ours once, another class now: the provider keeps its resource until the Instance is deleted.
    if (!ours) {
      out.push(s.line(inst, 'none', ['its runtime class changed: the resource is kept until deletion']));
      continue;
    }
    const gates = schedulingGates(inst);
    if (gates.length > 0) {
      out.push(s.line(inst, 'waiting', [`scheduling gates remain: ${gates.join(', ')}`]));
      continue;
    }
    const loc = cellLocation(inst, o.settings);
    out.push(
      await planOne(s, inst, async () => {
        const { caps, type } = await cellChecks(p, view, inst, loc, classes.items);
        if (!caps.plan || !o.backend.planInstance) return unsupported(s, inst);
        if (isSuspended(inst) && !caps.suspend)
          return s.line(inst, 'none', [
            `suspended, but the ${o.backend.name} backend cannot suspend: it keeps running`,
          ]);
        const desired = await cellDesired(p, view, inst, type);
        const ns = namespaces.items.find((n) => n.metadata.name === inst.metadata.namespace);
        if (!ns?.metadata.uid)
          throw new Refusal(
            REASON.ProgrammingInProgress,
            `namespace ${inst.metadata.namespace} not seen yet`,
            true,
          );
        desired.interfaces = cellInterfaces(inst, desired, cellNetworkIds(ns.metadata.uid));
        return askBackend(s, inst, loc, desired);
      }),
    );
  }
  return out;
}
