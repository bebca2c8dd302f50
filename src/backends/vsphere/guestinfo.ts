/**
 * cloud-init input for a cloned VM through VMware guestinfo (cloud-init's VMware datasource):
 * `guestinfo.userdata` (a cloud-config with the ssh keys and the VM's files) and `guestinfo.metadata`, both
 * base64. extraConfig is readable by anyone with read access to the VM and by every process in the guest
 * (vmware-rpctool), so content from a Secret is refused rather than written there.
 */
import { stringify } from 'yaml';
import { BackendError, type InstanceDesired } from '../../datum/backend.ts';
import { el, esc } from './xml.ts';

export function refuseSensitiveFiles(d: InstanceDesired): void {
  if (d.runtime.kind !== 'virtualMachine') return;
  const secret = d.runtime.files.find((f) => f.sensitive);
  if (secret)
    throw new BackendError(
      'Unsupported',
      `vsphere: file ${secret.path} comes from a Secret; VM guestinfo (extraConfig) is readable by anyone who ` +
        'can read the VM and by every process in the guest, so secret files are not supported on vSphere',
    );
}

export function guestinfo(d: InstanceDesired, hostname: string): Record<string, string> {
  const files = d.runtime.kind === 'virtualMachine' ? d.runtime.files : [];
  const byUser = new Map<string, string[]>();
  for (const k of d.sshKeys) byUser.set(k.user, [...(byUser.get(k.user) ?? []), k.key]);
  const config: Record<string, unknown> = {
    hostname,
    users: [
      'default',
      ...[...byUser].map(([name, keys]) => ({
        name,
        ssh_authorized_keys: keys,
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
      })),
    ],
  };
  if (files.length)
    config.write_files = files.map((f) => ({
      path: f.path,
      encoding: 'b64',
      content: f.data,
      permissions: `0${(f.mode ?? 0o644).toString(8)}`,
    }));
  const userdata = `#cloud-config\n${stringify(config)}`;
  const metadata = JSON.stringify({ 'instance-id': d.id, 'local-hostname': hostname });
  return {
    'guestinfo.userdata': Buffer.from(userdata).toString('base64'),
    'guestinfo.userdata.encoding': 'base64',
    'guestinfo.metadata': Buffer.from(metadata).toString('base64'),
    'guestinfo.metadata.encoding': 'base64',
  };
}

export function extraConfigXml(values: Record<string, string>): string {
  return Object.entries(values)
    .map(
      ([k, v]) => `<extraConfig>${el('key', k)}<value xsi:type="xsd:string">${esc(v)}</value></extraConfig>`,
    )
    .join('');
}
