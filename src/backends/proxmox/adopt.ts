/**
 * Operator controls on guests (VMs and LXC containers), by the provider id the backend reports
 * (`node/qemu|lxc/vmid`; the node may have changed since, VMIDs are cluster-wide):
 * - adopt: the guest gets our name, tags and marks (`adopted`), in one config write guarded by the config's
 *   digest, unless it carries another installation's or another object's; then the normal ensure converges it.
 *   An adopted guest is never replaced (a new image or runtime is refused instead).
 * - observe: the guest as it is, read-only (GETs only: no start, no config write).
 * - plan: what an ensure would change, read-only, one short line per change and never a secret value.
 */
import {
  BackendError,
  type InstanceDesired,
  type InstanceObserved,
  type InstancePlan,
  type PowerState,
} from '../../datum/backend.ts';
import { firewallChanges } from './firewall.ts';
import {
  base,
  configuredIp,
  findGuest,
  type Guest,
  type GuestConfig,
  hasPending,
  inCidr,
  listGuests,
  providerId,
  readConfig,
  reportedIp,
} from './guests.ts';
import { desiredConfig, differing, prepare } from './instance.ts';
import { guestName, MANAGED_TAG, readMarks, splitTags, writeMarks } from './names.ts';
import type { Session } from './session.ts';

const ID = /^([^/\s]+)\/(qemu|lxc)\/(\d+)$/;

/** The guest a provider id names, wherever it runs now; undefined when it does not exist. */
async function guestById(s: Session, id: string): Promise<Guest | undefined> {
  const m = ID.exec(id.trim());
  if (!m)
    throw new BackendError(
      'InvalidConfiguration',
      `"${id.slice(0, 80)}" is not a Proxmox guest id (node/qemu/vmid or node/lxc/vmid)`,
    );
  const vmid = Number(m[3]);
  return (await listGuests(s)).find((g) => g.vmid === vmid && g.type === m[2]);
}

const power = (status: string | undefined): PowerState =>
  status === 'running' ? 'running' : status === 'stopped' ? 'stopped' : 'pending';

export async function adoptInstance(
  s: Session,
  id: string,
  d: InstanceDesired,
): Promise<{ providerId: string }> {
  const g = await guestById(s, id);
  if (!g || g.template)
    throw new BackendError('NotFound', `no Proxmox guest ${id} to adopt${g ? ' (it is a template)' : ''}`);
  const want = d.runtime.kind === 'virtualMachine' ? 'qemu' : 'lxc';
  if (g.type !== want)
    throw new BackendError(
      'InvalidConfiguration',
      `${id} is ${g.type === 'qemu' ? 'a VM' : 'an LXC container'}, but the Instance's runtime needs ${want === 'qemu' ? 'a VM' : 'an LXC container'}`,
    );
  const cfg = await readConfig(s, g);
  const m = readMarks(String(cfg.description ?? ''));
  const tags = splitTags(String(cfg.tags ?? g.tags ?? ''));
  const name = guestName(s.installation, d.id);
  const foreignTag = tags.find((t) => t.startsWith('dpi-') && t !== s.instTag);
  if (m && (m.installation !== s.installation || m.id !== d.id || m.owner.uid !== d.owner.uid)) {
    const whose =
      m.installation !== s.installation
        ? 'another installation'
        : `${m.owner.kind} ${m.owner.namespace}/${m.owner.name}`;
    throw new BackendError('AdoptionConflict', `${id} is managed by ${whose}: not adopting it`);
  }
  if (!m && (foreignTag || (/^dp-[0-9a-f]{16}$/.test(g.name ?? '') && g.name !== name)))
    throw new BackendError(
      'AdoptionConflict',
      `${id} carries another installation's marks (${foreignTag ?? `name ${g.name}`}): not adopting it`,
    );
  const current = await findGuest(s, d.id);
  if (current && current.vmid !== g.vmid)
    throw new BackendError(
      'InvalidConfiguration',
      `this Instance already runs as ${providerId(current)}; adopting ${id} too would leave one unmanaged`,
    );
  const nameKey = g.type === 'qemu' ? 'name' : 'hostname';
  const tagsWanted = [...new Set([...tags, MANAGED_TAG, s.instTag])].sort().join(';');
  if (m && cfg[nameKey] === name && tags.includes(s.instTag)) return { providerId: providerId(g) };
  const image = d.runtime.kind === 'virtualMachine' ? d.runtime.image : d.runtime.containers[0]?.image;
  const body: GuestConfig = {
    [nameKey]: name,
    tags: tagsWanted,
    description: writeMarks({
      owner: d.owner,
      id: d.id,
      installation: s.installation,
      templateHash: '',
      image,
      adopted: true,
    }),
    // Refused if anything changed the config since it was read (a concurrent adopter): nothing is overwritten.
    digest: cfg.digest,
  };
  await s.step('adopt the guest', () => s.client.put(`${base(g)}/config`, body, s.o));
  s.ctx.log.info('adopted an existing guest', { instance: d.id, guest: providerId(g) });
  return { providerId: providerId(g) };
}

export async function observeInstance(
  s: Session,
  ref: { id: string; providerId?: string },
): Promise<InstanceObserved | undefined> {
  const g = ref.providerId ? await guestById(s, ref.providerId) : await findGuest(s, ref.id);
  if (!g || g.template) return undefined;
  const status = await s.step('read guest status', () =>
    s.client.get<{ status: string }>(`${base(g)}/status/current`, undefined, s.o),
  );
  const powerState = g.lock ? 'pending' : power(status?.status);
  const ip =
    (powerState === 'running' ? await reportedIp(s, g) : undefined) ?? configuredIp(await readConfig(s, g));
  return { providerId: providerId(g), upToDate: false, powerState, addresses: [ip ? { networkIP: ip } : {}] };
}

/** One short line per config key that differs (values of ours only: keys, sizes, addresses; no key material). */
function describe(key: string, was: unknown, now: unknown): string {
  const v = (x: unknown) => (x === undefined || x === '' ? '(none)' : String(x));
  switch (key) {
    case 'description':
      return 'ownership marks (template hash)';
    case 'tags':
      return `tags: ${v(was)} → ${v(now)}`;
    case 'memory':
      return `memory: ${v(was)} MiB → ${v(now)} MiB`;
    case 'sshkeys':
      return 'ssh keys';
    case 'agent':
      return 'guest agent: on';
    default:
      return `${key}: ${v(was)} → ${v(now)}`;
  }
}

export async function planInstance(s: Session, d: InstanceDesired): Promise<InstancePlan> {
  const p = await prepare(s, d);
  const g = await findGuest(s, d.id);
  if (!g) return { action: 'create', changes: [] };
  const cfg = await readConfig(s, g);
  const m = readMarks(String(cfg.description ?? ''));
  p.adopted = m?.adopted === true;
  const fixed =
    g.type !== p.type
      ? `runtime: ${g.type} → ${p.type}`
      : m?.image && m.image !== p.image
        ? `image: ${m.image} → ${p.image}`
        : undefined;
  if (fixed)
    return {
      action: 'update',
      changes: [
        `${fixed} (${p.adopted ? 'refused: an adopted guest is never replaced' : 'the guest is replaced'})`,
      ],
    };
  if (g.lock) return { action: 'update', changes: [`wait for the guest's ${g.lock} to finish`] };
  const changes: string[] = [];
  let ip = configuredIp(cfg);
  if (!ip || !inCidr(ip, p.cidr)) {
    changes.push(`address: ${ip ?? '(none)'} → a free one in ${p.cidr}`);
    ip = undefined;
  }
  const change = differing(desiredConfig(s, d, p, cfg, ip ?? '0.0.0.0'), cfg);
  // The new address is already said above.
  for (const [k, now] of Object.entries(change))
    if (!(ip === undefined && (k === 'ipconfig0' || k === 'net0'))) changes.push(describe(k, cfg[k], now));
  if (d.runtime.kind === 'virtualMachine') {
    const disk = ['scsi0', 'virtio0', 'sata0'].find((k) => cfg[k] !== undefined);
    const sized = disk && /size=(\d+(?:\.\d+)?)([KMGT]?)/.exec(String(cfg[disk]));
    const gib = sized
      ? Number(sized[1]) * ({ K: 1 / 1024 ** 2, M: 1 / 1024, G: 1, T: 1024 }[sized[2] || 'G'] ?? 1)
      : 0;
    if (disk && gib < d.runtime.diskSizeGiB) changes.push(`disk: ${gib} GiB → ${d.runtime.diskSizeGiB} GiB`);
  }
  changes.push(...(await firewallChanges(s, base(g), d.interfaces[0]!.ingress)));
  const status = await s.step('read guest status', () =>
    s.client.get<{ status: string }>(`${base(g)}/status/current`, undefined, s.o),
  );
  if (status?.status === 'stopped') changes.push('power: start');
  else if (status?.status === 'running' && (await hasPending(s, g)))
    changes.push('reboot for pending changes');
  return { action: changes.length > 0 ? 'update' : 'none', changes };
}
