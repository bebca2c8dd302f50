/**
 * Where and how big: the Location's topology → a node selector (several Locations can share one cluster and be
 * told apart by node labels), the instance type → requests and limits, accelerators → the GPU resource and a
 * toleration of the GPU nodes' taint.
 */
import { BackendError } from '../../datum/backend.ts';
import { isLabelKey, isLabelValue, type KubernetesSettings, type Shape } from './settings.ts';

export function nodeSelectorFor(
  s: KubernetesSettings,
  topology: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = s.topologyKeys ?? Object.keys(topology);
  for (const k of keys) {
    const v = topology[k];
    if (v === undefined) continue;
    if (!isLabelKey(k) || !isLabelValue(v))
      throw new BackendError(
        'InvalidConfiguration',
        `Location topology ${k}=${v} cannot be a node label; restrict config "topologyKeys" to label-safe keys`,
      );
    out[k] = v;
  }
  return { ...out, ...s.nodeSelector };
}

export function shapeOf(s: KubernetesSettings, instanceType: string): Shape {
  const shape = s.instanceTypes[instanceType];
  if (!shape)
    throw new BackendError(
      'InvalidConfiguration',
      `instance type ${instanceType} is not in this backend's instanceTypes map`,
    );
  return shape;
}

/** Requests = limits (Guaranteed QoS), as a Datum instance type is a fixed size. */
export function resourcesFor(s: KubernetesSettings, shape: Shape): Record<string, Record<string, string>> {
  const r: Record<string, string> = { cpu: shape.cpu, memory: shape.memory };
  if (shape.gpus > 0) r[s.gpuResource] = String(shape.gpus);
  return { requests: { ...r }, limits: { ...r } };
}

export function tolerationsFor(s: KubernetesSettings, shape: Shape): Record<string, string>[] {
  return shape.gpus > 0 ? [{ key: s.gpuTaintKey, operator: 'Exists', effect: 'NoSchedule' }] : [];
}
