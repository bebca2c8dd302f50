/**
 * The Kubernetes backend's settings: operator-level options (constructor, from `backendConfig`) overlaid by the
 * ProviderConfig's `config` map per call. Maps are `key=value` pairs separated by commas or newlines, or a JSON
 * object. See docs/kubernetes.md for every key.
 */
import { BackendError } from '../../datum/backend.ts';
import { parseBool, parseIntIn, parseMap } from '../common/config.ts';

/** What one Datum instance type asks of the downstream cluster. */
export interface Shape {
  cpu: string;
  memory: string;
  /** Accelerators (the `gpuResource` extended resource); 0 = none. */
  gpus: number;
}

export interface KubernetesSettings {
  /** Datum instance type → requests and limits. */
  instanceTypes: Record<string, Shape>;
  /** Datum image → KubeVirt container disk image. */
  images: Record<string, string>;
  /** Whether the downstream cluster runs KubeVirt (the VM runtime is offered only then). */
  kubevirt: boolean;
  /** Extended resource name for accelerators. */
  gpuResource: string;
  /** Taint key GPU nodes carry; GPU Instances tolerate it. */
  gpuTaintKey: string;
  /** Location topology keys that become node selector labels; undefined = every key. */
  topologyKeys?: string[];
  /** Extra node selector labels for every Instance. */
  nodeSelector: Record<string, string>;
  /** Prefix of the per-project namespaces. */
  namespacePrefix: string;
  /** API attempts per call (the client's own retries, before a BackendError reaches the reconciler). */
  maxAttempts: number;
}

export const DEFAULT_INSTANCE_TYPES: Record<string, Shape> = {
  'datumcloud/d1-standard-2': { cpu: '2', memory: '8Gi', gpus: 0 },
  'datumcloud/d1-standard-4': { cpu: '4', memory: '16Gi', gpus: 0 },
  'datumcloud/g1-standard-8-gpu1': { cpu: '8', memory: '32Gi', gpus: 1 },
};

export const DEFAULT_IMAGES: Record<string, string> = {
  'datumcloud/ubuntu-2204-lts': 'quay.io/containerdisks/ubuntu:22.04',
};

/** Operator-level options; every field can also come from the ProviderConfig `config` map. */
export interface KubernetesBackendOptions {
  instanceTypes?: Record<string, Shape | string>;
  images?: Record<string, string>;
  kubevirt?: boolean;
  gpuResource?: string;
  gpuTaintKey?: string;
  topologyKeys?: string[];
  nodeSelector?: Record<string, string>;
  namespacePrefix?: string;
  maxAttempts?: number;
  /** Value of the `datum.net/managed-by` label; default: the installation identity. */
  managedBy?: string;
}

function invalid(msg: string): BackendError {
  return new BackendError('InvalidConfiguration', msg);
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** `2:8Gi` or `8:32Gi:1` (cpu:memory[:gpus]), or `{"cpu":"2","memory":"8Gi","gpus":1}`. */
export function parseShape(text: string | Shape, type: string): Shape {
  let s: Shape;
  if (typeof text !== 'string') s = text;
  else if (text.trim().startsWith('{')) {
    const o = JSON.parse(text) as { cpu?: unknown; memory?: unknown; gpus?: unknown };
    s = { cpu: String(o.cpu ?? ''), memory: String(o.memory ?? ''), gpus: Number(o.gpus ?? 0) };
  } else {
    const [cpu = '', memory = '', gpus = '0'] = text.trim().split(':');
    s = { cpu, memory, gpus: Number(gpus) };
  }
  if (!QUANTITY.test(s.cpu) || !QUANTITY.test(s.memory) || !Number.isInteger(s.gpus) || s.gpus < 0)
    throw invalid(
      `instance type "${type}": "${typeof text === 'string' ? text : JSON.stringify(text)}" must be cpu:memory[:gpus], e.g. 2:8Gi or 8:32Gi:1`,
    );
  return s;
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const RESOURCE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function isLabelKey(k: string): boolean {
  return k.length <= 317 && LABEL_KEY.test(k);
}
export function isLabelValue(v: string): boolean {
  return LABEL_VALUE.test(v);
}

function shapes(src: Record<string, Shape | string>): Record<string, Shape> {
  return Object.fromEntries(Object.entries(src).map(([k, v]) => [k, parseShape(v, k)]));
}

/** Options + ProviderConfig `config` → effective settings. */
export function resolveSettings(
  opts: KubernetesBackendOptions,
  config: Readonly<Record<string, string>>,
): KubernetesSettings {
  const s: KubernetesSettings = {
    instanceTypes: { ...DEFAULT_INSTANCE_TYPES, ...shapes(opts.instanceTypes ?? {}) },
    images: { ...DEFAULT_IMAGES, ...(opts.images ?? {}) },
    kubevirt: opts.kubevirt ?? false,
    gpuResource: opts.gpuResource ?? 'nvidia.com/gpu',
    gpuTaintKey: opts.gpuTaintKey ?? 'nvidia.com/gpu',
    topologyKeys: opts.topologyKeys,
    nodeSelector: { ...(opts.nodeSelector ?? {}) },
    namespacePrefix: opts.namespacePrefix ?? 'datum-',
    maxAttempts: opts.maxAttempts ?? 3,
  };
  if (config.instanceTypes)
    Object.assign(s.instanceTypes, shapes(parseMap(config.instanceTypes, 'instanceTypes')));
  if (config.images) Object.assign(s.images, parseMap(config.images, 'images'));
  if (config.kubevirt) s.kubevirt = parseBool(config.kubevirt, 'kubevirt');
  if (config.gpuResource) s.gpuResource = config.gpuResource.trim();
  if (config.gpuTaintKey) s.gpuTaintKey = config.gpuTaintKey.trim();
  if (config.topologyKeys)
    s.topologyKeys =
      config.topologyKeys.trim() === '*'
        ? undefined
        : config.topologyKeys
            .split(',')
            .map((k) => k.trim())
            .filter(Boolean);
  if (config.nodeSelector) Object.assign(s.nodeSelector, parseMap(config.nodeSelector, 'nodeSelector'));
  if (config.namespacePrefix) s.namespacePrefix = config.namespacePrefix.trim();
  if (config.maxAttempts) s.maxAttempts = parseIntIn(config.maxAttempts, 'maxAttempts', 1, 10);
  if (!RESOURCE_NAME.test(s.gpuResource))
    throw invalid(`config "gpuResource" must be an extended resource name like nvidia.com/gpu`);
  if (!isLabelKey(s.gpuTaintKey)) throw invalid(`config "gpuTaintKey" must be a taint key`);
  for (const [k, v] of Object.entries(s.nodeSelector))
    if (!isLabelKey(k) || !isLabelValue(v)) throw invalid(`config "nodeSelector": ${k}=${v} is not a label`);
  if (!/^[a-z0-9]([-a-z0-9]{0,18})$/.test(s.namespacePrefix))
    throw invalid(`config "namespacePrefix" must be lower-case letters, digits and '-', at most 19`);
  for (const [k, v] of Object.entries(s.images))
    if (!v || /\s/.test(v)) throw invalid(`config "images": "${k}" needs a container disk image`);
  return s;
}
