/**
 * The Instance reconciler: realizes an Instance in one of our Locations on the backend and reports
 * Programmed, Running, addresses and the observed template hash. It never writes Ready (compute derives it),
 * never touches an Instance of someone else's Location, and does nothing while scheduling gates remain.
 */
import type { ReconcileContext, Reconciler, Request, Result } from '../../runtime/controller/reconcile.ts';
import type { Cluster } from '../../runtime/manager/cluster.ts';
import type { ConditionInput } from '../../runtime/util/conditions.ts';
import { hasFinalizer, removeFinalizer } from '../../runtime/util/finalizers.ts';
import { INSTANCE, NETWORK_CONTEXT, SUBNET, WORKLOAD_DEPLOYMENT } from '../api/resources.ts';
import type {
  Instance,
  Location,
  LocationReference,
  NetworkContext,
  Subnet,
  WorkloadDeployment,
} from '../api/types.ts';
import type { BackendCapabilities, InstanceObserved, ResourceOwner } from '../backend.ts';
import {
  CONDITION,
  instanceLocation,
  networkContextName,
  REASON,
  schedulingGates,
  subnetName,
} from '../classic.ts';
import { registerDesiredSecrets } from '../redact.ts';
import {
  CREDENTIALS_RECHECK_MS,
  classify,
  cond,
  deleteWhereItLives,
  FINALIZER,
  failpoint,
  hasCondition,
  holdTeardown,
  keepLastGood,
  locationOf,
  networkId,
  objectContext,
  type ProviderContext,
  subnetId,
  writeStatus,
} from './common.ts';
import { applyDeletionPolicy } from './deletion-policy.ts';
import {
  buildDesired,
  capabilitiesFor,
  instanceId,
  Refusal,
  runningCondition,
  templateHashOf,
  validate,
} from './instance-desired.ts';
import {
  adoptIfAsked,
  letGoIfObserveOnly,
  MANAGEMENT_REASON,
  type ObserveReport,
  observeIfAsked,
} from './management.ts';
import { holdIfPaused, PAUSED_RECHECK_MS } from './pause.ts';
import { claim, claimObject, recordedPlacement } from './placement.ts';

export function ownerOf(
  cluster: string,
  obj: { metadata: { namespace?: string; name?: string; uid?: string } },
  kind: ResourceOwner['kind'],
): ResourceOwner {
  return {
    cluster,
    namespace: obj.metadata.namespace ?? '',
    kind,
    name: obj.metadata.name!,
    uid: obj.metadata.uid!,
  };
}

/** The Location an Instance runs in, also after compute dropped its spec.location on a template update. */
export function locationOfInstance(cluster: Cluster, inst: Instance): LocationReference | undefined {
  return instanceLocation(inst, (ns, name) =>
    cluster.cache.informerFor<WorkloadDeployment>(WORKLOAD_DEPLOYMENT).get(name, ns),
  );
}

export class InstanceReconciler implements Reconciler {
  private readonly p: ProviderContext;
  constructor(p: ProviderContext) {
    this.p = p;
  }

  async reconcile(req: Request, rc: ReconcileContext): Promise<Result | undefined> {
    const cluster = this.p.mgr.cluster(req.cluster);
    let inst = cluster.cache.informerFor<Instance>(INSTANCE).get(req.name, req.namespace);
    if (!inst) return;
    const where = locationOfInstance(cluster, inst);
    const { loc, ours } = locationOf(cluster, where, this.p.settings);
    const mine = hasFinalizer(inst, FINALIZER);
    if (!ours && !mine) return; // someone else's Instance (or not scheduled yet): leave it entirely alone
    if (await holdIfPaused(this.p, cluster, INSTANCE, inst, loc)) return { requeueAfter: PAUSED_RECHECK_MS };
    if (inst.metadata.deletionTimestamp) {
      if (!mine) return;
      const deleting = inst;
      return this.delete(cluster, inst, loc, where, rc).catch((err) =>
        holdTeardown(this.p, cluster, INSTANCE, deleting, err, CONDITION.Programmed),
      );
    }
    if (!ours) return; // our finalizer but the Location moved away: keep the resource until deletion
    inst = await claimObject(this.p, cluster.client, INSTANCE, inst, FINALIZER, loc!, cluster.name);
    if (schedulingGates(inst).length > 0) return; // compute removes the Network gate once networking is ready
    const observed = await observeIfAsked(this.p, cluster, inst, loc!, rc, this.observeReport(cluster));
    return observed === 'full' ? this.converge(cluster, inst, loc!, rc) : observed;
  }

  /** ObserveOnly's outcome (management.ts) in the classic conditions: Programmed and Running. */
  private observeReport(cluster: Cluster): ObserveReport<Instance> {
    const write = (inst: Instance, conditions: ConditionInput[], fields: Record<string, unknown> = {}) =>
      writeStatus(cluster, INSTANCE, inst, conditions, fields, this.p.redactor).then(() => {});
    const gen = (inst: Instance) => inst.metadata.generation;
    return {
      notProgrammed: (inst, reason, message) =>
        write(inst, [cond(CONDITION.Programmed, 'False', reason, message, gen(inst))]),
      missing: (inst, message) =>
        write(inst, [
          cond(CONDITION.Programmed, 'False', MANAGEMENT_REASON.NotFound, message, gen(inst)),
          cond(CONDITION.Running, 'False', MANAGEMENT_REASON.NotFound, 'Nothing to observe', gen(inst)),
        ]),
      observed: (inst, observed, caps, message) => {
        const [rs, rr, rm] = runningCondition(observed.powerState, inst, caps, observed);
        return write(
          inst,
          [
            cond(CONDITION.Programmed, 'True', MANAGEMENT_REASON.Observed, message, gen(inst)),
            cond(CONDITION.Running, rs, rr, rm, gen(inst)),
          ],
          {
            // compute dereferences status.controller whenever Programmed=True.
            controller: { observedTemplateHash: templateHashOf(inst) },
            networkInterfaces: (inst.spec?.networkInterfaces ?? []).map((_, i) => ({
              assignments: observed.addresses[i] ?? {},
            })),
          },
        );
      },
    };
  }

  private async converge(
    cluster: Cluster,
    inst: Instance,
    loc: Location,
    rc: ReconcileContext,
  ): Promise<Result | undefined> {
    const gen = inst.metadata.generation;
    const programmed = (status: ConditionInput['status'], reason: string, message: string) =>
      cond(CONDITION.Programmed, status, reason, message, gen);
    let caps: BackendCapabilities;
    let nics: { networkId: string; subnetId: string }[];
    try {
      // What the backend offers under the ProviderConfig the Instance lives with (its own maps included).
      caps = await capabilitiesFor(this.p, loc, recordedPlacement(inst)?.providerConfig, cluster.name);
      validate(inst, caps, this.p.backend.name);
      nics = this.networks(cluster, inst, { namespace: loc.metadata.namespace!, name: loc.metadata.name! });
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      if (!keepLastGood(this.p, cluster, inst, err.transient, err.reason, err.message))
        await this.refuse(cluster, inst, err);
      return err.transient ? { requeueAfter: 5000 } : undefined;
    }
    let observed: InstanceObserved;
    try {
      const desired = await buildDesired(inst, ownerOf(cluster.name, inst, 'Instance'), nics, cluster.client);
      // Values from the Instance's Secrets join the credentials in the redactor before any backend call.
      registerDesiredSecrets(this.p.redactor, desired);
      const target = (await objectContext(this.p, cluster.name, inst, loc, rc.log, rc.signal))!;
      if (!target.recorded) inst = await claim(cluster.client, INSTANCE, inst, FINALIZER, target.placement);
      await adoptIfAsked(this.p, target.bctx, inst, desired, caps);
      observed = await this.p.backend.ensureInstance(target.bctx, desired);
      failpoint('after-ensure-instance');
    } catch (err) {
      if (err instanceof Refusal) {
        await this.refuse(cluster, inst, err);
        return err.transient ? { requeueAfter: 10_000 } : undefined;
      }
      const c = classify(err);
      if (!keepLastGood(this.p, cluster, inst, c.retry, c.reason, c.message)) {
        await writeStatus(
          cluster,
          INSTANCE,
          inst,
          [programmed('False', c.reason, c.message)],
          {},
          this.p.redactor,
        );
        cluster.recorder.event(inst, 'Warning', c.reason, this.p.redactor.redact(c.message));
      }
      if (c.retry)
        throw Object.assign(new Error(this.p.redactor.redact(c.message)), { retryAfterMs: c.retryAfterMs });
      // Missing credentials may be fixed without touching the Instance: look again soon.
      return {
        requeueAfter:
          c.reason === REASON.CredentialsUnavailable || c.reason === REASON.ProviderConfigNotPermitted
            ? CREDENTIALS_RECHECK_MS
            : this.p.settings.resyncSeconds * 1000,
      };
    }
    const [rs, rr, rm] = runningCondition(observed.powerState, inst, caps, observed);
    if (!observed.upToDate) {
      // The platform still runs the previous template (e.g. an instance being replaced): Programmed=True with
      // the new hash would claim otherwise. status.controller keeps the hash that really runs.
      await writeStatus(
        cluster,
        INSTANCE,
        inst,
        [
          programmed(
            'False',
            REASON.ProgrammingInProgress,
            `Applying the new template: ${observed.providerId} is being replaced`,
          ),
          cond(CONDITION.Running, rs, rr, rm, gen),
        ],
        {},
        this.p.redactor,
      );
      return { requeueAfter: 2000 };
    }
    const wasProgrammed = hasCondition(inst, CONDITION.Programmed, 'True');
    const changed = await writeStatus(
      cluster,
      INSTANCE,
      inst,
      [
        // The Instance status schema has no field for it, so the backend reference travels in the message.
        programmed('True', REASON.Programmed, `Instance has been programmed as ${observed.providerId}`),
        cond(CONDITION.Running, rs, rr, rm, gen),
      ],
      {
        // compute dereferences status.controller whenever Programmed=True: always write them together.
        controller: { observedTemplateHash: templateHashOf(inst) },
        networkInterfaces: inst.spec!.networkInterfaces.map((_, i) => ({
          assignments: observed.addresses[i] ?? {},
        })),
      },
      this.p.redactor,
    );
    if (changed && !wasProgrammed)
      cluster.recorder.event(inst, 'Normal', REASON.Programmed, `Programmed as ${observed.providerId}`);
    // Poll while the platform is still moving; afterwards re-check periodically to correct drift.
    return { requeueAfter: observed.powerState === 'running' ? this.p.settings.resyncSeconds * 1000 : 2000 };
  }

  /** NIC i → its NetworkContext (NSO's deterministic name) and the context's subnet; both must be programmed. */
  private networks(
    cluster: Cluster,
    inst: Instance,
    where: LocationReference,
  ): { networkId: string; subnetId: string }[] {
    return inst.spec!.networkInterfaces.map((nic) => {
      const ns = nic.network.namespace ?? inst.metadata.namespace!;
      const ctxName = networkContextName(nic.network.name, where);
      const ctx = cluster.cache.informerFor<NetworkContext>(NETWORK_CONTEXT).get(ctxName, ns);
      const sub = cluster.cache.informerFor<Subnet>(SUBNET).get(subnetName(ctxName), ns);
      if (!ctx || !hasCondition(ctx, CONDITION.Programmed, 'True'))
        throw new Refusal(
          REASON.NetworkNotReady,
          `waiting for NetworkContext ${ns}/${ctxName} to be programmed`,
          true,
        );
      if (!sub || !hasCondition(sub, CONDITION.Programmed, 'True'))
        throw new Refusal(
          REASON.NetworkNotReady,
          `waiting for Subnet ${ns}/${subnetName(ctxName)} to be programmed`,
          true,
        );
      return { networkId: networkId(ctx), subnetId: subnetId(sub) };
    });
  }

  private async refuse(cluster: Cluster, inst: Instance, err: Refusal): Promise<void> {
    const changed = await writeStatus(
      cluster,
      INSTANCE,
      inst,
      [cond(CONDITION.Programmed, 'False', err.reason, err.message, inst.metadata.generation)],
      {},
      this.p.redactor,
    );
    if (changed) cluster.recorder.event(inst, 'Warning', err.reason, this.p.redactor.redact(err.message));
  }

  /** Awaited teardown: the finalizer comes off only once the backend says the instance is gone. */
  private async delete(
    cluster: Cluster,
    inst: Instance,
    loc: Location | undefined,
    where: LocationReference | undefined,
    rc: ReconcileContext,
  ): Promise<Result | undefined> {
    const id = instanceId(inst);
    if (await letGoIfObserveOnly(cluster, inst)) return;
    const policy = await applyDeletionPolicy(this.p, cluster, inst, loc, where, rc, [['instance', id]]);
    if (policy === 'hold') return { requeueAfter: 30_000 };
    if (policy === 'retained') {
      await removeFinalizer(cluster.client, INSTANCE, inst, FINALIZER);
      return;
    }
    const gone = await deleteWhereItLives(this.p, cluster.name, inst, loc, where, rc.log, rc.signal, (bctx) =>
      this.p.backend.deleteInstance(bctx, id),
    );
    if (!gone) {
      await writeStatus(
        cluster,
        INSTANCE,
        inst,
        [
          cond(
            CONDITION.Running,
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
    await removeFinalizer(cluster.client, INSTANCE, inst, FINALIZER);
    return;
  }
}
