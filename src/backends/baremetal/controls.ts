/**
 * Operator controls on bare-metal hosts (the provider id is the BareMetalHost's name):
 * - adopt: claim a host of this installation's inventory that nobody has claimed (phase `free`, or `retained`
 *   by a Retain deletion) for an Instance, as it is: phase `provisioned`, `adopted: true`, no template yet. A
 *   host claimed by another installation or another Instance is refused (AdoptionConflict) and not written.
 *   The claim is the same conditioned status update as any claim, so two adopters cannot both win.
 * - The next ensure accepts the host when its capacity fits the instance type, its site serves the Location
 *   and (when known) its image is the desired one, recording the template; otherwise it says what differs.
 *   An adopted host is never re-imaged: later template changes are recorded, not applied. A host found off is
 *   powered on (it boots what is on its disk).
 * - observe and plan read the inventory and the BMC only (GETs). A free host that is off is no instance.
 */
import {
  BackendError,
  type InstanceDesired,
  type InstanceObserved,
  type InstancePlan,
  type PowerState,
} from '../../datum/backend.ts';
import { addressFor } from './addresses.ts';
import { fits, type Inventory, kubeError, servesSite } from './inventory.ts';
import type { NetworkRecords } from './records.ts';
import type { RedfishClient } from './redfish.ts';
import type { BareMetalHost } from './resources.ts';
import type { BareMetalSettings } from './settings.ts';

export interface ControlsContext {
  inv: Inventory;
  records: NetworkRecords;
  settings: BareMetalSettings;
  installation: string;
  topology: Record<string, string>;
  bmc(host: BareMetalHost): Promise<RedfishClient>;
}

const POWER: Record<string, PowerState> = { On: 'running', Off: 'stopped', PoweringOn: 'pending' };

async function byName(c: ControlsContext, name: string): Promise<BareMetalHost | undefined> {
  return (await c.inv.hosts()).find((h) => h.metadata.name === name);
}

export async function adoptHost(
  c: ControlsContext,
  name: string,
  d: InstanceDesired,
): Promise<{ providerId: string }> {
  const host = await byName(c, name);
  if (!host) throw new BackendError('NotFound', `no BareMetalHost ${name} in this installation's inventory`);
  const st = host.status ?? {};
  if (st.claimedBy) {
    if (st.claimedBy === d.id && st.installation === c.installation && st.owner?.uid === d.owner.uid)
      return { providerId: name };
    const whose =
      st.installation !== c.installation
        ? `another installation (${st.installation})`
        : `${st.owner?.kind ?? 'Instance'} ${st.owner?.namespace}/${st.owner?.name}`;
    throw new BackendError('AdoptionConflict', `host ${name} is claimed by ${whose}: not adopting it`);
  }
  if (st.phase && st.phase !== 'free' && st.phase !== 'retained')
    throw new BackendError('AdoptionConflict', `host ${name} is ${st.phase}: not adopting it`);
  const mine = await c.inv.claimedBy(d.id, c.installation);
  if (mine)
    throw new BackendError(
      'InvalidConfiguration',
      `this Instance already runs on host ${mine.metadata.name}; adopting ${name} too would leave one unmanaged`,
    );
  try {
    await c.inv.writeStatus(
      host,
      {
        phase: 'provisioned',
        adopted: true,
        claimedBy: d.id,
        installation: c.installation,
        owner: d.owner,
        subnetId: d.interfaces[0]?.subnetId,
        ...(st.image ? { image: st.image } : {}),
        claimedAt: new Date().toISOString(),
      },
      { replace: true },
    );
  } catch (err) {
    // A 409: someone wrote first (another adopter, a claim); the next attempt re-reads and decides again.
    throw kubeError(err, `adopting host ${name}`);
  }
  return { providerId: name };
}

/** Where an adopted host differs from the desired state in what only re-imaging or another host would change. */
export function adoptedDifferences(c: ControlsContext, host: BareMetalHost, d: InstanceDesired): string[] {
  const out: string[] = [];
  const need = c.settings.instanceTypes[d.instanceType];
  const cap = host.spec.capacity;
  if (need && !fits(host, need))
    out.push(
      `capacity: ${cap.cpu} CPUs, ${cap.memoryGiB} GiB, ${cap.gpus ?? 0} GPUs < ${d.instanceType} (${need.cpu} CPUs, ${need.memoryGiB} GiB, ${need.gpus} GPUs)`,
    );
  if (!servesSite(host, c.topology))
    out.push(`site: ${Object.values(host.spec.site ?? {}).join(',')} does not serve the Location`);
  const image = d.runtime.kind === 'virtualMachine' ? d.runtime.image : undefined;
  if (host.status?.image && image && host.status.image !== image)
    out.push(`image: ${host.status.image} → ${image}`);
  return out;
}

/** Ensure on an adopted host whose template is not recorded yet (or changed): accept it as it is, or refuse. */
export async function acceptAdopted(
  c: ControlsContext,
  host: BareMetalHost,
  d: InstanceDesired,
): Promise<BareMetalHost> {
  const diffs = adoptedDifferences(c, host, d);
  if (diffs.length)
    throw new BackendError(
      'Unsupported',
      `adopted host ${host.metadata.name} differs where only re-imaging or another host would change it (${diffs.join('; ')}); an adopted host is never re-imaged: make the Instance match it`,
    );
  return c.inv.update(host, { templateHash: d.templateHash, subnetId: d.interfaces[0]?.subnetId });
}

export async function observeHost(
  c: ControlsContext,
  ref: { id: string; providerId?: string },
): Promise<InstanceObserved | undefined> {
  const host = ref.providerId
    ? await byName(c, ref.providerId)
    : await c.inv.claimedBy(ref.id, c.installation);
  if (!host) return undefined;
  const { powerState } = await (await c.bmc(host)).system();
  // A host in the pool and off runs no instance (e.g. one freed by a deletion); on, it runs something.
  if ((host.status?.phase ?? 'free') === 'free' && powerState === 'Off') return undefined;
  const subnet = host.status?.subnetId ? await c.records.get(host.status.subnetId) : undefined;
  const networkIP = addressFor(host.spec.addresses ?? [], subnet?.spec.cidr);
  return {
    providerId: host.metadata.name!,
    upToDate: false,
    powerState: POWER[powerState] ?? 'pending',
    addresses: [networkIP ? { networkIP } : {}],
  };
}

export async function planHost(c: ControlsContext, d: InstanceDesired): Promise<InstancePlan> {
  const host = await c.inv.claimedBy(d.id, c.installation);
  if (!host) return { action: 'create', changes: [] };
  const st = host.status ?? {};
  const changes: string[] = [];
  const image = d.runtime.kind === 'virtualMachine' ? d.runtime.image : undefined;
  if (st.adopted) {
    const diffs = adoptedDifferences(c, host, d);
    changes.push(...diffs);
    if (!diffs.length && !st.templateHash) changes.push('adopted: template recorded, the host kept as it is');
    else if (!diffs.length && st.templateHash !== d.templateHash)
      changes.push('template (files, ssh keys or ingress rules): not applied to an adopted host');
  } else if (st.phase === 'claimed') changes.push('provision: boot image and config drive, power on');
  else if (st.templateHash !== d.templateHash) {
    if (st.image && image && st.image !== image)
      changes.push(`image: ${st.image} → ${image} (re-images the host)`);
    else changes.push('template (files, ssh keys or ingress rules): the host is re-imaged');
  }
  if (st.phase === 'provisioned' || st.phase === 'provisioning') {
    const { powerState } = await (await c.bmc(host)).system();
    if (powerState !== 'On') changes.push('power: on');
  }
  return { action: changes.length ? 'update' : 'none', changes };
}
