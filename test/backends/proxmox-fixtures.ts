/** Shared by the Proxmox test files: the backend config for a fakepve (no test runs from here). */
import { type FakePve, TEMPLATE_VMID } from '../../src/localenv/emulators/fakepve/index.ts';

export function proxmoxConfig(p: FakePve, managedBy: string): Record<string, string> {
  return {
    endpoint: p.endpoint,
    fingerprint: p.fingerprint,
    managedBy,
    images: `datumcloud/ubuntu-2204-lts=${TEMPLATE_VMID}`,
    containerImages:
      'nginx:1.27=local:vztmpl/nginx-1.27.tar,nginx:1.28=local:vztmpl/nginx-1.27.tar,busybox=local:vztmpl/busybox.tar',
    placement: 'DFW=pve1|pve2,LHR=pve3',
    nodes: 'pve1|pve2|pve3',
  };
}
