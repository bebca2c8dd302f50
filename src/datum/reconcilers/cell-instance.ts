/**
 * The cell generation's Instance reconciler: realizes the Instances of the RuntimeClass we serve and reports
 * Programmed, Available and the observed template hash (never Ready or QuotaGranted: compute derives those).
 * Nothing happens while any scheduling gate remains; a suspended Instance is stopped, kept, and left without
 * condition writes. The translation, placement, pause, deletion policy, status write and the management controls
 * (adopt, ObserveOnly: management.ts) are the classic ones.
 */
import type { ReconcileContext, Reconciler, Request, Result } from '../../runtime/controller/reconcile.ts';
import type { Cluster } from '../../runtime/manager/cluster.ts';
import { hasFinalizer, removeFinalizer } from '../../runtime/util/finalizers.ts';
import type { CellInstance, InstanceType, RuntimeClass } from '../api/cell-types.ts';
import { INSTANCE, INSTANCE_TYPE, NAMESPACE, RUNTIME_CLASS } from '../api/resources.ts';
import type { Instance, Location } from '../api/types.ts';
import type { BackendCapabilities, InstanceObserved } from '../backend.ts';
import {
  availableCondition,
  CONDITION,
  cellLocation,
  cellReason,
  defaultRuntimeClass,
  isSuspended,
  ownsInstance,
  providerWritesAddresses,
  REASON,
  schedulingGates,
} from '../cell.ts';
import { defaultCellSettings } from '../settings.ts';
import type { ResolvedType } from './cell-desired.ts';
import { type CellView, cellChecks, cellDesired, cellInterfaces } from './cell-instance-desired.ts';
import { deleteCellNetwork, ensureCellNetwork } from './cell-network.ts';
import {
  classify,
  cond,
  contextsWhereItLives,
  FINALIZER,
  failpoint,
  keepLastGood,
  objectContext,
  type ProviderContext,
  writeStatus,
} from './common.ts';
import { applyDeletionPolicy } from './deletion-policy.ts';
import { instanceId, Refusal, templateHashOf } from './instance-desired.ts';
import {
  adoptIfAsked,
  leavesPlatformAlone,
  letGoIfObserveOnly,
  MANAGEMENT_REASON,
  type ObserveReport,
  observeIfAsked,
} from './management.ts';
import { holdIfPaused, PAUSED_RECHECK_MS } from './pause.ts';
import { claim, claimObject } from './placement.ts';

export class CellInstanceReconciler implements Reconciler {
  private readonly p: ProviderContext;
  constructor(p: ProviderContext) {
    this.p = p;
  }

  private get cell() {
    return this.p.settings.cell ?? defaultCellSettings();
  }

  async reconcile(req: Request, rc: ReconcileContext): Promise<Result | undefined> {
    const cluster = this.p.mgr.cluster(req.cluster);
    let inst = cluster.cache.informerFor<CellInstance>(INSTANCE).get(req.name, req.namespace);
    if (!inst) return;
    const classes = cluster.cache.informerFor<RuntimeClass>(RUNTIME_CLASS).list();
    const ours = ownsInstance(inst, this.cell, defaultRuntimeClass(classes));
    const mine = hasFinalizer(inst, FINALIZER);
    if (!ours && !mine) return; // another runtime class: leave it entirely alone
    const loc = cellLocation(inst, this.p.settings);
    if (await holdIfPaused(this.p, cluster, INSTANCE, inst, loc)) return { requeueAfter: PAUSED_RECHECK_MS };
    if (inst.metadata.deletionTimestamp) return mine ? this.delete(cluster, inst, loc, rc) : undefined;
    if (!ours) return; // our finalizer but the class changed: keep the resource until deletion
    if (schedulingGates(inst).length > 0) return; // compute removes Quota, ReferencedData and Network gates
    inst = await claimObject(this.p, cluster.client, INSTANCE, inst, FINALIZER, loc, cluster.name);
    const observed = await observeIfAsked(this.p, cluster, inst, loc, rc, this.observeReport(cluster));
    return observed === 'full' ? this.converge(cluster, inst, loc, classes, rc) : observed;
  }

  private view(cluster: Cluster): CellView {
    return {
      name: cluster.name,
      client: cluster.client,
      instanceType: (n) => cluster.cache.informerFor<InstanceType>(INSTANCE_TYPE).get(n),
    };
  }

  /**
   * ObserveOnly's outcome (management.ts) in the cell conditions and reasons, like a refusal or a converge.
   * Suspended: nothing is written (compute owns the conditions then; an observed instance is never stopped).
   */
  private observeReport(cluster: Cluster): ObserveReport<CellInstance> {
    const failed = (inst: CellInstance, reason: string, message: string, transient: boolean) =>
      isSuspended(inst)
        ? Promise.resolve()
        : this.refuse(cluster, inst, new Refusal(reason, message, transient));
    return {
      notProgrammed: failed,
      missing: (inst, message) => failed(inst, MANAGEMENT_REASON.NotFound, message, false),
      observed: async (inst, observed, caps, message) => {
        if (isSuspended(inst)) return;
        const gen = inst.metadata.generation;
        const [as, ar, am] = availableCondition(observed.powerState, inst, caps);
        await writeStatus(
          cluster,
          INSTANCE,
          inst,
          [
            cond(CONDITION.Programmed, 'True', REASON.Programmed, message, gen),
            cond(CONDITION.Available, as, ar, am, gen),
          ],
          this.statusFields(inst, observed),
          this.p.redactor,
        );
      },
    };
  }

  /** compute dereferences status.controller whenever Programmed=True; addresses where they are ours. */
  private statusFields(inst: CellInstance, observed: InstanceObserved): Record<string, unknown> {
    const fields: Record<string, unknown> = {
      controller: { observedTemplateHash: templateHashOf(inst as unknown as Instance) },
    };
    if (providerWritesAddresses(inst, this.cell))
      fields.networkInterfaces = inst.spec!.networkInterfaces.map((nic, i) => ({
        name: nic.name ?? 'eth0',
        assignments: observed.addresses[i] ?? {},
      }));
    return fields;
  }

  private async converge(
    cluster: Cluster,
    inst: CellInstance,
    loc: Location,
    classes: RuntimeClass[],
    rc: ReconcileContext,
  ): Promise<Result | undefined> {
    const suspended = isSuspended(inst);
    let caps: BackendCapabilities;
    let type: ResolvedType;
    const view = this.view(cluster);
    try {
      ({ caps, type } = await cellChecks(this.p, view, inst, loc, classes));
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      if (!suspended && !keepLastGood(this.p, cluster, inst, err.transient, err.reason, err.message))
        await this.refuse(cluster, inst, err);
      return err.transient ? { requeueAfter: 5000 } : undefined;
    }
    if (suspended && !caps.suspend) {
      // The backend cannot stop and keep an instance: it keeps running, and the RuntimeClass offers no Suspend.
      cluster.recorder.event(
        inst,
        'Warning',
        'SuspendUnsupported',
        `The ${this.p.backend.name} backend cannot suspend; the instance keeps running`,
      );
      return { requeueAfter: this.p.settings.resyncSeconds * 1000 };
    }
    let observed: InstanceObserved;
    try {
      const desired = await cellDesired(this.p, view, inst, type);
      const target = (await objectContext(this.p, cluster.name, inst, loc, rc.log, rc.signal))!;
      if (!target.recorded) inst = await claim(cluster.client, INSTANCE, inst, FINALIZER, target.placement);
      const ns = cluster.cache.informerFor(NAMESPACE).get(inst.metadata.namespace!);
      if (!ns?.metadata.uid)
        throw new Refusal(
          REASON.ProgrammingInProgress,
          `namespace ${inst.metadata.namespace} not seen yet`,
          true,
        );
      const net = await ensureCellNetwork(this.p, target.bctx, cluster.name, {
        name: ns.metadata.name!,
        uid: ns.metadata.uid,
      });
      desired.interfaces = cellInterfaces(inst, desired, net);
      await adoptIfAsked(this.p, target.bctx, inst, desired, caps);
      observed = await this.p.backend.ensureInstance(target.bctx, desired);
      failpoint('after-ensure-instance');
    } catch (err) {
      if (err instanceof Refusal) {
        if (!suspended && !keepLastGood(this.p, cluster, inst, err.transient, err.reason, err.message))
          await this.refuse(cluster, inst, err);
        return err.transient ? { requeueAfter: 5000 } : undefined;
      }
      const c = classify(err);
      if (!suspended && !keepLastGood(this.p, cluster, inst, c.retry, c.reason, c.message)) {
        await this.refuse(cluster, inst, new Refusal(c.reason, c.message, c.retry));
      }
      if (c.retry)
        throw Object.assign(new Error(this.p.redactor.redact(c.message)), { retryAfterMs: c.retryAfterMs });
      return { requeueAfter: this.p.settings.resyncSeconds * 1000 };
    }
    // Suspended: the workload stops and everything else stays; compute owns what the conditions say.
    if (suspended)
      return {
        requeueAfter: observed.powerState === 'stopped' ? this.p.settings.resyncSeconds * 1000 : 2000,
      };
    const gen = inst.metadata.generation;
    const [as, ar, am] = availableCondition(observed.powerState, inst, caps);
    if (!observed.upToDate) {
      await writeStatus(
        cluster,
        INSTANCE,
        inst,
        [
          cond(
            CONDITION.Programmed,
            'False',
            REASON.ProgrammingInProgress,
            `Applying the new template: ${observed.providerId} is being replaced`,
            gen,
          ),
          cond(CONDITION.Available, as, ar, am, gen),
        ],
        {},
        this.p.redactor,
      );
      return { requeueAfter: 2000 };
    }
    const fields = this.statusFields(inst, observed);
    const changed = await writeStatus(
      cluster,
      INSTANCE,
      inst,
      [
        cond(
          CONDITION.Programmed,
          'True',
          REASON.Programmed,
          `Instance has been programmed as ${observed.providerId}`,
          gen,
        ),
        cond(CONDITION.Available, as, ar, am, gen),
      ],
      fields,
      this.p.redactor,
    );
    if (changed && as === 'True')
      cluster.recorder.event(inst, 'Normal', REASON.Available, `Available as ${observed.providerId}`);
    return { requeueAfter: observed.powerState === 'running' ? this.p.settings.resyncSeconds * 1000 : 2000 };
  }

  /** Programmed and Available False with a cell reason; the classic reason leads the message. */
  private async refuse(cluster: Cluster, inst: CellInstance, err: Refusal): Promise<void> {
    const r = cellReason(err.reason, err.transient);
    const message = `${err.reason}: ${err.message}`;
    const gen = inst.metadata.generation;
    const changed = await writeStatus(
      cluster,
      INSTANCE,
      inst,
      [
        cond(CONDITION.Programmed, 'False', r.programmed, message, gen),
        cond(CONDITION.Available, 'False', r.available, message, gen),
      ],
      {},
      this.p.redactor,
    );
    if (changed) cluster.recorder.event(inst, 'Warning', r.programmed, this.p.redactor.redact(message));
  }

  /**
   * Awaited teardown: the instance, then, unless a live Instance of ours still uses it, the namespace's
   * network (every Instance being deleted together waits for it, so whichever is last cannot skip it); the
   * finalizer comes off only once the backend says they are gone.
   */
  private async delete(
    cluster: Cluster,
    inst: CellInstance,
    loc: Location,
    rc: ReconcileContext,
  ): Promise<Result | undefined> {
    if (await letGoIfObserveOnly(cluster, inst)) return;
    const id = instanceId(inst);
    const where = { namespace: loc.metadata.namespace!, name: loc.metadata.name! };
    const policy = await applyDeletionPolicy(this.p, cluster, inst, loc, where, rc, [['instance', id]]);
    if (policy === 'hold') return { requeueAfter: 30_000 };
    if (policy !== 'retained') {
      const places = await contextsWhereItLives(this.p, cluster.name, inst, loc, where, rc.log, rc.signal);
      let gone = true;
      for (const bctx of places) if (!(await this.p.backend.deleteInstance(bctx, id)).gone) gone = false;
      if (!gone) {
        await writeStatus(
          cluster,
          INSTANCE,
          inst,
          [
            cond(
              CONDITION.Available,
              'False',
              REASON.Stopping,
              'Instance is being deleted',
              inst.metadata.generation,
            ),
          ],
          {},
          this.p.redactor,
        );
        return { requeueAfter: 1000 };
      }
      const others = cluster.cache
        .informerFor<CellInstance>(INSTANCE)
        .list({ namespace: inst.metadata.namespace })
        .some(
          (o) =>
            o.metadata.uid !== inst.metadata.uid &&
            !o.metadata.deletionTimestamp &&
            hasFinalizer(o, FINALIZER) &&
            !leavesPlatformAlone(o), // an ObserveOnly Instance uses nothing of ours
        );
      const ns = cluster.cache.informerFor(NAMESPACE).get(inst.metadata.namespace!);
      if (!others && ns?.metadata.uid) {
        for (const bctx of places)
          if (!(await deleteCellNetwork(this.p, bctx, ns.metadata.uid))) gone = false;
        if (!gone) return { requeueAfter: 1000 };
      }
    }
    await removeFinalizer(cluster.client, INSTANCE, inst, FINALIZER);
    return;
  }
}
