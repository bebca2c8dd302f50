/**
 * A VM Instance → a KubeVirt VirtualMachine (runStrategy Always): a container disk mapped from the Datum image,
 * the pod network (masquerade), and cloud-init NoCloud user data read from a Secret (userDataSecretRef), so
 * ssh keys and Secret files never sit in the VM object. The VM's status → power state; the address comes from
 * its VirtualMachineInstance (`status.interfaces[0].ipAddress`).
 */
import { BackendError, type InstanceDesired, type PowerState } from '../../datum/backend.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import { ANN_TEMPLATE, ownerMeta } from './labels.ts';
import { nodeSelectorFor, shapeOf, tolerationsFor } from './placement.ts';
import { workloadLabels } from './pod.ts';
import type { KubernetesSettings } from './settings.ts';

export function containerDiskOf(s: KubernetesSettings, image: string): string {
  const disk = s.images[image];
  if (!disk)
    throw new BackendError('InvalidConfiguration', `image ${image} is not in this backend's images map`);
  return disk;
}

/** cloud-init user data: the ssh keys per user, and every file written with its mode. */
export function cloudInit(d: InstanceDesired): string {
  if (d.runtime.kind !== 'virtualMachine') throw new Error('cloudInit: not a VM');
  const users = new Map<string, string[]>();
  for (const k of d.sshKeys) users.set(k.user, [...(users.get(k.user) ?? []), k.key]);
  const doc = {
    users: [
      'default',
      ...[...users].map(([name, keys]) => ({
        name,
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
        shell: '/bin/bash',
        ssh_authorized_keys: keys,
      })),
    ],
    write_files: d.runtime.files.map((f) => ({
      path: f.path,
      encoding: 'b64',
      content: f.data,
      permissions: `0${(f.mode ?? 0o644).toString(8)}`,
    })),
  };
  // JSON is YAML; cloud-init reads `#cloud-config` documents as YAML.
  return `#cloud-config\n${JSON.stringify(doc, null, 1)}\n`;
}

export function buildVirtualMachine(
  s: KubernetesSettings,
  managedBy: string,
  d: InstanceDesired,
  name: string,
  namespace: string,
  topology: Record<string, string>,
): KubeObject {
  if (d.runtime.kind !== 'virtualMachine') throw new Error('buildVirtualMachine: not a VM');
  const shape = shapeOf(s, d.instanceType);
  const meta = ownerMeta(managedBy, 'instance', d.id, d.owner);
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      namespace,
      labels: { ...meta.labels, ...workloadLabels(managedBy, d) },
      annotations: { ...meta.annotations, [ANN_TEMPLATE]: d.templateHash },
    },
    spec: {
      runStrategy: 'Always',
      template: {
        // Not the ownership labels: KubeVirt copies these onto its launcher Pod, which is not ours to list.
        metadata: { labels: workloadLabels(managedBy, d) },
        spec: {
          nodeSelector: nodeSelectorFor(s, topology),
          tolerations: tolerationsFor(s, shape),
          domain: {
            cpu: { cores: Math.max(1, Math.ceil(Number.parseFloat(shape.cpu))) },
            resources: { requests: { memory: shape.memory }, limits: { memory: shape.memory } },
            devices: {
              disks: [
                { name: 'boot', disk: { bus: 'virtio' } },
                { name: 'cloudinit', disk: { bus: 'virtio' } },
              ],
              interfaces: [{ name: 'default', masquerade: {} }],
              ...(shape.gpus > 0
                ? {
                    gpus: Array.from({ length: shape.gpus }, (_, i) => ({
                      name: `gpu${i}`,
                      deviceName: s.gpuResource,
                    })),
                  }
                : {}),
            },
          },
          networks: [{ name: 'default', pod: {} }],
          volumes: [
            { name: 'boot', containerDisk: { image: containerDiskOf(s, d.runtime.image) } },
            { name: 'cloudinit', cloudInitNoCloud: { secretRef: { name: `${name}-secret` } } },
          ],
        },
      },
    },
  };
}

/** VM printable statuses that say the VM will not start by itself. */
const FAILING = new Set([
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrorUnschedulable',
  'ErrorPvcNotFound',
  'ErrorDataVolumeNotFound',
  'DataVolumeError',
]);

export function vmState(vm: KubeObject): { powerState: PowerState; reason?: string; message?: string } {
  const st = (vm.status ?? {}) as {
    ready?: boolean;
    printableStatus?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
  if (vm.metadata.deletionTimestamp) return { powerState: 'stopping' };
  const ps = st.printableStatus ?? '';
  if (FAILING.has(ps)) {
    const failure = st.conditions?.find((c) => c.status === 'False' && c.message);
    return {
      powerState: 'pending',
      reason: ps,
      message: `VirtualMachine ${ps}${failure?.message ? `: ${failure.message.slice(0, 300)}` : ''}`,
    };
  }
  if (st.ready && ps === 'Running') return { powerState: 'running' };
  if (ps === 'Stopped') return { powerState: 'stopped' };
  if (ps === 'Stopping' || ps === 'Terminating') return { powerState: 'stopping' };
  return { powerState: 'pending' };
}

export function vmiAddress(vmi: KubeObject | undefined): string | undefined {
  const ifs = (vmi?.status?.interfaces as { ipAddress?: string; name?: string }[] | undefined) ?? [];
  return ifs.find((i) => i.name === 'default')?.ipAddress ?? ifs[0]?.ipAddress;
}
