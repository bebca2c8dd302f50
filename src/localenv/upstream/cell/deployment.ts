/**
 * The standalone cell's WorkloadDeployment controller, playing compute's cell part: it checks the cell's one
 * ServingLocation, then keeps `replicas` Instances (`<wd>-<i>`) with the template, the runtime-class label,
 * `spec.location = {name}`, the template hash and the three gates; propagates suspension; reports replica
 * counts and Available. Development and tests only: never run it against a real Datum cell.
 *
 * Where it differs from compute (see docs/standalone-upstream.md, "cell"): Instances are created all at once
 * (compute's cell uses its stateful control); suspension is asked for with the annotation
 * `compute.datumapis.com/suspended: "true"` on the WorkloadDeployment (in Datum it arrives from the hub via
 * Karmada); no NetworkInterfaceClaims are created (this cell has no tenant networking); the class of an
 * Instance is the WorkloadDeployment's runtime-class label, else its template's class, else the default one.
 */
import type {
  CellInstance,
  CellWorkloadDeployment,
  RuntimeClass,
  ServingLocation,
} from '../../../datum/api/cell-types.ts';
import {
  INSTANCE,
  RUNTIME_CLASS,
  SERVING_LOCATION,
  WORKLOAD_DEPLOYMENT,
} from '../../../datum/api/resources.ts';
import { defaultRuntimeClass, RUNTIME_CLASS_LABEL } from '../../../datum/cell.ts';
import { CITY_CODE_KEY } from '../../../datum/classic.ts';
import type { Request, Result } from '../../../runtime/controller/reconcile.ts';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../../runtime/util/finalizers.ts';
import {
  COMPUTE,
  createIfMissing,
  deleteIfExists,
  isTrue,
  LABEL_INSTANCE_INDEX,
  LABEL_WD_UID,
  ownerRef,
  patchStatus,
  templateHash,
  UpstreamReconciler,
  WORKLOAD_FINALIZER,
} from '../standalone/util.ts';

export const SUSPEND_ANNOTATION = 'compute.datumapis.com/suspended';
export const CELL_GATES = [{ name: 'Quota' }, { name: 'ReferencedData' }, { name: 'Network' }];

export class CellWorkloadDeploymentReconciler extends UpstreamReconciler {
  async reconcile(req: Request): Promise<Result | undefined> {
    const cluster = this.mgr.cluster(req.cluster);
    const c = cluster.client;
    let wd = cluster.cache
      .informerFor<CellWorkloadDeployment>(WORKLOAD_DEPLOYMENT)
      .get(req.name, req.namespace);
    if (!wd?.spec) return;
    const ns = wd.metadata.namespace!;
    const mine = cluster.cache
      .informerFor<CellInstance>(INSTANCE)
      .list({ namespace: ns, labelSelector: `${LABEL_WD_UID}=${wd.metadata.uid}` });
    if (wd.metadata.deletionTimestamp) {
      // Instances go first, and the deployment waits for them (their provider finalizers included).
      for (const i of mine) await deleteIfExists(c, INSTANCE, i.metadata.name!, ns);
      if (mine.length > 0) return { requeueAfter: 1000 };
      if (hasFinalizer(wd, WORKLOAD_FINALIZER))
        await removeFinalizer(c, WORKLOAD_DEPLOYMENT, wd, WORKLOAD_FINALIZER);
      return;
    }
    if (!hasFinalizer(wd, WORKLOAD_FINALIZER))
      wd = await addFinalizer(c, WORKLOAD_DEPLOYMENT, wd, WORKLOAD_FINALIZER);
    const spec = wd.spec!;
    const counts = (ready: number) => ({
      replicas: mine.length,
      currentReplicas: mine.length,
      desiredReplicas: replicas,
      readyReplicas: ready,
      updatedReplicas: mine.filter((i) => i.spec?.controller?.templateHash === hash).length,
      observedGeneration: wd!.metadata.generation,
    });
    const replicas = spec.replicas ?? spec.scaleSettings.minReplicas;
    const hash = templateHash(spec.template);
    const unavailable = (reason: string, message: string) =>
      patchStatus(
        c,
        WORKLOAD_DEPLOYMENT,
        wd!,
        [{ type: 'Available', status: 'False', reason, message }],
        counts(0),
      );

    // The cell serves exactly one Location, in the city the deployment was placed in.
    const serving = cluster.cache.informerFor<ServingLocation>(SERVING_LOCATION).list();
    if (serving.length !== 1) {
      await unavailable(
        serving.length ? 'AmbiguousServingLocation' : 'NoMatchingLocation',
        `this cell has ${serving.length} ServingLocations; exactly one is needed`,
      );
      return { requeueAfter: 5000 };
    }
    const here = serving[0]!;
    if (here.spec?.topology[CITY_CODE_KEY] !== spec.cityCode) {
      await unavailable(
        'CityCodeMismatch',
        `this cell serves ${here.spec?.topology[CITY_CODE_KEY]}, not ${spec.cityCode}`,
      );
      return;
    }
    // The class: the label the hub selected the deployment by, else the template's, else the default class.
    const classes = cluster.cache.informerFor<RuntimeClass>(RUNTIME_CLASS).list();
    const cls =
      wd.metadata.labels?.[RUNTIME_CLASS_LABEL] ??
      spec.template.spec.runtime.class ??
      defaultRuntimeClass(classes);
    const rc = classes.find((x) => x.metadata.name === cls);
    if (!cls || !rc || !isTrue(rc, 'Accepted')) {
      await unavailable(
        'RuntimeClassNotServed',
        `RuntimeClass ${cls ?? '(default)'} is not served in this cell`,
      );
      return { requeueAfter: 5000 };
    }

    const suspended = wd.metadata.annotations?.[SUSPEND_ANNOTATION] === 'true';
    const location = { name: here.metadata.name! };
    const labels = (i: number) => ({
      ...spec.template.metadata?.labels,
      [RUNTIME_CLASS_LABEL]: cls,
      [LABEL_INSTANCE_INDEX]: String(i),
      [LABEL_WD_UID]: wd!.metadata.uid!,
      'compute.datumapis.com/workload-deployment-name': wd!.metadata.name!,
    });
    for (const inst of mine) {
      const i = Number(inst.metadata.labels?.[LABEL_INSTANCE_INDEX]);
      if (!(i < replicas)) await deleteIfExists(c, INSTANCE, inst.metadata.name!, ns);
      else if (inst.spec?.controller?.templateHash !== hash && !inst.metadata.deletionTimestamp)
        // A new template: the whole spec is replaced, location and hash kept; the gates were passed already.
        await c.update(INSTANCE, {
          ...inst,
          metadata: {
            ...inst.metadata,
            labels: labels(i),
            annotations: spec.template.metadata?.annotations,
          },
          spec: {
            ...spec.template.spec,
            location,
            controller: { templateHash: hash, schedulingGates: [] },
          },
        });
      if (i < replicas && (inst.status?.suspended === true) !== suspended)
        await c.patchStatus(INSTANCE, inst.metadata.name!, ns, {
          type: 'merge',
          patch: { status: { suspended } },
        });
    }
    for (let i = 0; i < replicas; i++) {
      if (mine.some((x) => x.metadata.labels?.[LABEL_INSTANCE_INDEX] === String(i))) continue;
      await createIfMissing(c, INSTANCE, {
        metadata: {
          name: `${wd.metadata.name}-${i}`,
          namespace: ns,
          labels: labels(i),
          annotations: spec.template.metadata?.annotations,
          ownerReferences: [ownerRef(wd, 'WorkloadDeployment', COMPUTE)],
        },
        spec: {
          ...spec.template.spec,
          location,
          controller: { templateHash: hash, schedulingGates: CELL_GATES },
        },
      });
    }
    const ready = mine.filter((i) => isTrue(i, 'Ready')).length;
    await patchStatus(
      c,
      WORKLOAD_DEPLOYMENT,
      wd,
      [
        ready > 0
          ? {
              type: 'Available',
              status: 'True',
              reason: 'StableInstanceFound',
              message: `${ready} of ${replicas} ready`,
            }
          : {
              type: 'Available',
              status: 'False',
              reason: 'InstancesProvisioning',
              message: `0 of ${replicas} ready`,
            },
      ],
      { ...counts(ready), location, suspended, selector: `${LABEL_WD_UID}=${wd.metadata.uid}` },
    );
    return mine.length === replicas ? undefined : { requeueAfter: 1000 };
  }
}
