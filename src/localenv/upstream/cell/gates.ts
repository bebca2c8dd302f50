/**
 * The cell's gate keepers, as the standalone cell plays them: Quota (granted at once: there is no quota
 * service here), ReferencedData (lifted once every ConfigMap and Secret the Instance references is in its
 * namespace with the referenced-data label) and Network (lifted at once: this cell has no tenant VPC
 * networking, so there is no NetworkInterfaceClaim to wait for).
 */
import type { CellInstance } from '../../../datum/api/cell-types.ts';
import { CONFIGMAP, SECRET } from '../../../datum/api/resources.ts';
import { REFERENCED_DATA_LABEL } from '../../../datum/cell.ts';
import type { Cluster } from '../../../runtime/manager/cluster.ts';
import type { ConditionInput } from '../../../runtime/util/conditions.ts';

/** Every ConfigMap and Secret an Instance spec references (env, envFrom, volumes, image pull secrets). */
export function referencedData(
  inst: CellInstance,
): { kind: 'ConfigMap' | 'Secret'; name: string; optional: boolean }[] {
  const out: { kind: 'ConfigMap' | 'Secret'; name: string; optional: boolean }[] = [];
  const spec = inst.spec;
  for (const c of spec?.runtime.sandbox?.containers ?? []) {
    for (const e of c.env ?? []) {
      const cm = e.valueFrom?.configMapKeyRef;
      const s = e.valueFrom?.secretKeyRef;
      if (cm?.name) out.push({ kind: 'ConfigMap', name: cm.name, optional: !!cm.optional });
      if (s?.name) out.push({ kind: 'Secret', name: s.name, optional: !!s.optional });
    }
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef)
        out.push({ kind: 'ConfigMap', name: f.configMapRef.name, optional: !!f.configMapRef.optional });
      if (f.secretRef) out.push({ kind: 'Secret', name: f.secretRef.name, optional: !!f.secretRef.optional });
    }
  }
  for (const p of spec?.runtime.sandbox?.imagePullSecrets ?? [])
    out.push({ kind: 'Secret', name: p.name, optional: false });
  for (const v of spec?.volumes ?? []) {
    if (v.configMap?.name)
      out.push({ kind: 'ConfigMap', name: v.configMap.name, optional: !!v.configMap.optional });
    if (v.secret?.secretName)
      out.push({ kind: 'Secret', name: v.secret.secretName, optional: !!v.secret.optional });
  }
  return out;
}

/** Which gates can go now, and the conditions that say why each went (or did not). */
export function evaluateGates(
  cluster: Cluster,
  inst: CellInstance,
): { lift: Set<string>; conditions: ConditionInput[] } {
  const lift = new Set<string>(['Quota', 'Network']);
  const gen = inst.metadata.generation;
  const conditions: ConditionInput[] = [
    {
      type: 'QuotaGranted',
      status: 'True',
      reason: 'QuotaGranted',
      message: 'Granted (standalone cell: no quota service)',
      observedGeneration: gen,
    },
  ];
  const missing = referencedData(inst).filter((r) => {
    if (r.optional) return false;
    const obj = cluster.cache
      .informerFor(r.kind === 'Secret' ? SECRET : CONFIGMAP)
      .get(r.name, inst.metadata.namespace);
    return obj?.metadata.labels?.[REFERENCED_DATA_LABEL] !== 'true';
  });
  if (missing.length === 0) {
    lift.add('ReferencedData');
    conditions.push({
      type: 'ReferencedDataReady',
      status: 'True',
      reason: 'ReferencedDataReady',
      message: 'All referenced data is present',
      observedGeneration: gen,
    });
  } else
    conditions.push({
      type: 'ReferencedDataReady',
      status: 'False',
      reason: 'ReferencedDataNotFound',
      message: `Waiting for ${missing.map((m) => `${m.kind} ${m.name}`).join(', ')}`,
      observedGeneration: gen,
    });
  return { lift, conditions };
}
