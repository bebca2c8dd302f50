/**
 * A sandbox Instance → one Pod: its containers, env (sensitive values from the Instance's Secret), ports and
 * files (subPath mounts of the Instance's ConfigMap / Secret), sized by the instance type and placed by the
 * Location's topology. The Pod's state → power state, with crash loops and image pull failures as reasons.
 */
import type { ContainerDesired, InstanceDesired, PowerState } from '../../datum/backend.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import {
  ANN_TEMPLATE,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_NETWORK,
  LABEL_SUBNET,
  labelValue,
  ownerMeta,
} from './labels.ts';
import { envKeyOf, fileKey } from './payload.ts';
import { nodeSelectorFor, resourcesFor, shapeOf, tolerationsFor } from './placement.ts';
import type { KubernetesSettings } from './settings.ts';

/** Labels on the workload (Pod, VM template) that policies and subnet checks select on. */
export function workloadLabels(managedBy: string, d: InstanceDesired): Record<string, string> {
  const nic = d.interfaces[0];
  return {
    [LABEL_MANAGED_BY]: managedBy,
    [LABEL_INSTANCE]: labelValue(d.id),
    ...(nic ? { [LABEL_NETWORK]: labelValue(nic.networkId), [LABEL_SUBNET]: labelValue(nic.subnetId) } : {}),
  };
}

function container(
  c: ContainerDesired,
  base: string,
  resources: Record<string, Record<string, string>>,
): Record<string, unknown> {
  return {
    name: c.name,
    image: c.image,
    env: c.env.map((e) =>
      e.sensitive
        ? {
            name: e.name,
            valueFrom: { secretKeyRef: { name: `${base}-secret`, key: envKeyOf(c.name, e.name) } },
          }
        : { name: e.name, value: e.value },
    ),
    ports: c.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol })),
    volumeMounts: c.files.map((f) => ({
      name: f.sensitive ? 'secret-files' : 'files',
      mountPath: f.path,
      subPath: fileKey(f),
      readOnly: true,
    })),
    resources,
  };
}

export function buildPod(
  s: KubernetesSettings,
  managedBy: string,
  d: InstanceDesired,
  name: string,
  namespace: string,
  topology: Record<string, string>,
): KubeObject {
  if (d.runtime.kind !== 'sandbox') throw new Error('buildPod: not a sandbox');
  const shape = shapeOf(s, d.instanceType);
  const meta = ownerMeta(managedBy, 'instance', d.id, d.owner);
  const containers = d.runtime.containers;
  // The instance type sizes the Instance: the first container gets it, others share what is left (none).
  const resources = resourcesFor(s, shape);
  const files = containers.flatMap((c) => c.files);
  const volumes: Record<string, unknown>[] = [];
  const modes = (sensitive: boolean) =>
    files
      .filter((f) => f.sensitive === sensitive)
      .map((f) => ({ key: fileKey(f), path: fileKey(f), ...(f.mode !== undefined ? { mode: f.mode } : {}) }));
  if (files.some((f) => !f.sensitive))
    volumes.push({ name: 'files', configMap: { name: `${name}-files`, items: modes(false) } });
  if (files.some((f) => f.sensitive))
    volumes.push({ name: 'secret-files', secret: { secretName: `${name}-secret`, items: modes(true) } });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: { ...meta.labels, ...workloadLabels(managedBy, d) },
      annotations: { ...meta.annotations, [ANN_TEMPLATE]: d.templateHash },
    },
    spec: {
      containers: containers.map((c, i) => container(c, name, i === 0 ? resources : {})),
      volumes,
      nodeSelector: nodeSelectorFor(s, topology),
      tolerations: tolerationsFor(s, shape),
      restartPolicy: 'Always',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
    },
  };
}

/** Waiting reasons that say the Instance will not start by itself. */
const FAILING = new Set([
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

export interface PodState {
  powerState: PowerState;
  reason?: string;
  message?: string;
  /** The Pod ended (Failed/Succeeded) and must be replaced for the Instance to run again. */
  ended: boolean;
}

export function podState(pod: KubeObject): PodState {
  const st = (pod.status ?? {}) as {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: {
      name: string;
      ready?: boolean;
      state?: {
        waiting?: { reason?: string; message?: string };
        terminated?: { reason?: string; exitCode?: number };
      };
      lastState?: { terminated?: { reason?: string; exitCode?: number } };
    }[];
  };
  if (pod.metadata.deletionTimestamp) return { powerState: 'stopping', ended: false };
  if (st.phase === 'Failed' || st.phase === 'Succeeded')
    return {
      powerState: 'stopped',
      reason: st.phase === 'Failed' ? (st.reason ?? 'PodFailed') : 'PodSucceeded',
      message: `the Pod ${st.phase === 'Failed' ? 'failed' : 'exited'}${st.message ? `: ${st.message}` : ''}; it is replaced`,
      ended: true,
    };
  for (const c of st.containerStatuses ?? []) {
    const w = c.state?.waiting;
    if (w?.reason && FAILING.has(w.reason)) {
      const last = c.lastState?.terminated;
      const detail = last ? ` (last exit: ${last.reason ?? 'Error'}, code ${last.exitCode ?? '?'})` : '';
      return {
        powerState: 'pending',
        reason: w.reason,
        message: `container ${c.name}: ${w.reason}${w.message ? `: ${w.message.slice(0, 300)}` : ''}${detail}`,
        ended: false,
      };
    }
  }
  if (st.phase === 'Running') {
    const ready = st.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') return { powerState: 'running', ended: false };
    const notReady = (st.containerStatuses ?? []).filter((c) => !c.ready).map((c) => c.name);
    // Containers ready as last reported, yet the Pod is not: the node controller marked it (its node is
    // NotReady or unreachable), the kubelet did not.
    if (notReady.length === 0 && (st.containerStatuses ?? []).length > 0 && ready?.status === 'False')
      return {
        powerState: 'pending',
        reason: 'NodeNotReady',
        message: `the Pod's node ${String(pod.spec?.nodeName ?? '')} is not ready`,
        ended: false,
      };
    return {
      powerState: 'pending',
      reason: ready?.reason ?? 'ContainersNotReady',
      message: notReady.length
        ? `containers not ready: ${notReady.join(', ')}`
        : (ready?.message ?? 'the Pod is not ready'),
      ended: false,
    };
  }
  const scheduled = st.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False')
    return {
      powerState: 'pending',
      reason: scheduled.reason ?? 'Unschedulable',
      message: (scheduled.message ?? 'no node fits the Instance').slice(0, 300),
      ended: false,
    };
  return { powerState: 'pending', ended: false };
}
