/**
 * Instances: a VM is a clone of the template mapped from its Datum image (cloud-init: user, ssh keys,
 * static address; disk resized; agent on); a sandbox is an LXC container made from the OS template mapped
 * from its container image. Both get the subnet's VLAN on the bridge, the guest firewall from the network
 * policy, and our marks. Deletion is awaited: shutdown (forced after a timeout), destroy, wait for the task.
 */
import {
  BackendError,
  type DeleteResult,
  type InstanceDesired,
  type InstanceObserved,
  type PowerState,
} from '../../datum/backend.ts';
import { isNotFound } from './errors.ts';
import { syncFirewall } from './firewall.ts';
import {
  allocateIp,
  base,
  configuredIp,
  createWithVmid,
  findGuest,
  type Guest,
  type GuestConfig,
  gateway,
  hasPending,
  inCidr,
  listGuests,
  placeGuest,
  providerId,
  readConfig,
  reportedIp,
  withSubnetLock,
} from './guests.ts';
import {
  guestName,
  MANAGED_TAG,
  type Marks,
  networkSetName,
  readMarks,
  subnetTag,
  writeMarks,
} from './names.ts';
import { ourSets, ourSubnets } from './network.ts';
import { vnetName } from './sdn.ts';
import type { Session } from './session.ts';

type Config = GuestConfig;

export interface Plan {
  type: 'qemu' | 'lxc';
  image: string;
  cores: number;
  memoryMiB: number;
  /** The bridge net0 attaches to (the configured bridge, or the network's SDN vnet) and its VLAN tag, if any. */
  bridge: string;
  vlan?: number;
  cidr: string;
  subnetTag: string;
  tags: string;
  /** The guest was adopted: its marks keep saying so, and it is never replaced. */
  adopted?: boolean;
}

/** Checks the desired state against the settings and finds its subnet: what create and converge work from. */
export async function prepare(s: Session, d: InstanceDesired): Promise<Plan> {
  const shape = s.settings.instanceTypes[d.instanceType];
  if (!shape)
    throw new BackendError('InvalidConfiguration', `instance type ${d.instanceType} is not configured`);
  let type: Plan['type'] = 'qemu';
  let image: string;
  if (d.runtime.kind === 'virtualMachine') {
    image = d.runtime.image;
    if (s.settings.images[image] === undefined)
      throw new BackendError('InvalidConfiguration', `image ${image} has no template in config "images"`);
    if (d.runtime.files.length > 0)
      throw new BackendError('Unsupported', 'files on a Proxmox VM are not supported yet');
  } else {
    type = 'lxc';
    if (Object.keys(s.settings.containerImages).length === 0)
      throw new BackendError(
        'Unsupported',
        'this Proxmox backend runs no sandboxes (config "containerImages" is empty)',
      );
    if (d.runtime.containers.length !== 1)
      throw new BackendError(
        'InvalidConfiguration',
        'a Proxmox sandbox runs exactly one container (one LXC container)',
      );
    const c = d.runtime.containers[0]!;
    image = c.image;
    if (!s.settings.containerImages[image])
      throw new BackendError(
        'InvalidConfiguration',
        `container image ${image} has no LXC template in config "containerImages"`,
      );
    if (c.files.length > 0 || c.env.some((e) => e.sensitive))
      throw new BackendError(
        'Unsupported',
        'files and secret environment variables are not supported in Proxmox sandboxes',
      );
  }
  if (d.interfaces.length !== 1)
    throw new BackendError('InvalidConfiguration', 'a Proxmox guest has exactly one network interface');
  const itf = d.interfaces[0]!;
  const sets = await ourSets(s);
  const set = sets.find((x) => x.name === networkSetName(s.installation, itf.networkId));
  const subnet = set && (await ourSubnets(s, [set])).find((x) => x.marks.id === itf.subnetId);
  if (!set || !subnet || set.marks.vlan === undefined)
    throw new BackendError('DependencyNotReady', `subnet ${itf.subnetId} is not programmed yet`, {
      retryAfterMs: 2_000,
    });
  const sTag = subnetTag(s.installation, itf.subnetId);
  return {
    type,
    image,
    cores: shape.cores,
    memoryMiB: shape.memoryMiB,
    // An SDN vnet carries its tag itself.
    ...(s.settings.networkMode === 'sdn'
      ? { bridge: vnetName(s.installation, itf.networkId) }
      : { bridge: s.settings.bridge, vlan: set.marks.vlan }),
    cidr: subnet.cidr,
    subnetTag: sTag,
    tags: [MANAGED_TAG, s.instTag, sTag].sort().join(';'),
  };
}

function marks(s: Session, d: InstanceDesired, p: Plan): string {
  const m: Marks = {
    owner: d.owner,
    id: d.id,
    installation: s.installation,
    templateHash: d.templateHash,
    image: p.image,
    ...(p.adopted ? { adopted: true } : {}),
  };
  return writeMarks(m);
}

function netProps(existing: string | number | undefined, p: Plan, ip: string): string {
  const props = String(existing ?? '')
    .split(',')
    .filter(Boolean);
  if (p.type === 'qemu') {
    const model = props.find((x) => /^(virtio|e1000|rtl8139|vmxnet3)/.test(x)) ?? 'virtio';
    return `${model},bridge=${p.bridge},firewall=1${p.vlan === undefined ? '' : `,tag=${p.vlan}`}`;
  }
  // What PVE fills in itself (MAC address, interface type) is kept, so a converged config compares equal.
  const kept = props.filter((x) => x.startsWith('hwaddr=') || x.startsWith('type='));
  return [
    'name=eth0',
    `bridge=${p.bridge}`,
    'firewall=1',
    `gw=${gateway(p.cidr)}`,
    ...kept,
    `ip=${ip}/${p.cidr.split('/')[1]}`,
    ...(p.vlan === undefined ? [] : [`tag=${p.vlan}`]),
  ].join(',');
}

const sortTags = (t: unknown) =>
  String(t ?? '')
    .split(/[;, ]+/)
    .filter(Boolean)
    .sort()
    .join(';');

export function desiredConfig(s: Session, d: InstanceDesired, p: Plan, cfg: Config, ip: string): Config {
  const out: Config = {
    tags: p.tags,
    description: marks(s, d, p),
    cores: p.cores,
    memory: p.memoryMiB,
    net0: netProps(cfg.net0, p, ip),
  };
  if (p.type === 'qemu') {
    out.name = guestName(s.installation, d.id);
    out.agent = '1';
    out.ciuser = s.settings.ciUser;
    out.ipconfig0 = `gw=${gateway(p.cidr)},ip=${ip}/${p.cidr.split('/')[1]}`;
    // PVE takes `sshkeys` URL-encoded (the parameter's format), newline-separated.
    if (d.sshKeys.length > 0) out.sshkeys = encodeURIComponent(d.sshKeys.map((k) => k.key.trim()).join('\n'));
  }
  return out;
}

export function differing(want: Config, have: Config): Config {
  const out: Config = {};
  for (const [k, v] of Object.entries(want)) {
    const h = have[k];
    const same =
      k === 'tags'
        ? sortTags(h) === sortTags(v)
        : k === 'ipconfig0' || k === 'net0'
          ? normProps(h) === normProps(v)
          : String(h ?? '') === String(v ?? '');
    if (!same) out[k] = v;
  }
  return out;
}

const normProps = (v: unknown) =>
  String(v ?? '')
    .split(',')
    .filter(Boolean)
    .sort()
    .join(',');

async function waitFor(s: Session, what: string, upid: unknown): Promise<void> {
  if (typeof upid !== 'string' || !upid.startsWith('UPID:')) return;
  await s.step(what, () => s.client.waitTask(upid, s.o));
}

async function create(s: Session, d: InstanceDesired, p: Plan): Promise<void> {
  const node = await placeGuest(s, d.id);
  const name = guestName(s.installation, d.id);
  if (p.type === 'qemu') {
    const tplId = s.settings.images[p.image]!;
    const tpl = (await listGuests(s)).find((g) => g.vmid === tplId && g.type === 'qemu');
    if (!tpl?.template)
      throw new BackendError(
        'InvalidConfiguration',
        `template ${tplId} for image ${p.image} is not a VM template on this cluster`,
      );
    const made = await createWithVmid(s, d.id, (vmid) =>
      s.client.post<string>(
        `/nodes/${tpl.node}/qemu/${tplId}/clone`,
        {
          newid: vmid,
          name,
          description: marks(s, d, p),
          target: node === tpl.node ? undefined : node,
        },
        s.o,
      ),
    );
    await waitFor(s, 'clone the template', made.upid);
    return;
  }
  const c = d.runtime.kind === 'sandbox' ? d.runtime.containers[0]! : undefined;
  await withSubnetLock(`${s.installation}/${p.subnetTag}`, async () => {
    const ip = await allocateIp(s, p.cidr, p.subnetTag, d.id);
    const made = await createWithVmid(s, d.id, (vmid) =>
      s.client.post<string>(
        `/nodes/${node}/lxc`,
        {
          vmid,
          hostname: name,
          ostemplate: s.settings.containerImages[p.image],
          storage: s.settings.storage,
          rootfs: `${s.settings.storage}:${s.settings.containerDiskGiB}`,
          unprivileged: 1,
          ...desiredConfig(s, d, p, {}, ip),
          env: c && c.env.length > 0 ? c.env.map((e) => `${e.name}=${e.value}`).join('\0') : undefined,
          'ssh-public-keys': d.sshKeys.length > 0 ? d.sshKeys.map((k) => k.key.trim()).join('\n') : undefined,
        },
        s.o,
      ),
    );
    await waitFor(s, 'create the container', made.upid);
  });
}

export async function ensureInstance(s: Session, d: InstanceDesired): Promise<InstanceObserved> {
  const p = await prepare(s, d);
  let g = await findGuest(s, d.id);
  if (g) {
    const m = readMarks(String((await readConfig(s, g)).description ?? ''));
    p.adopted = m?.adopted === true;
    const kind =
      g.type !== p.type
        ? `runtime ${g.type} → ${p.type}`
        : m?.image && m.image !== p.image
          ? `image ${m.image} → ${p.image}`
          : undefined;
    if (kind && p.adopted)
      throw new BackendError(
        'Unsupported',
        `adopted guest ${providerId(g)} differs where it cannot change in place (${kind}); an adopted guest is never replaced: make the Instance match it`,
      );
    if (kind) {
      // A new image or runtime cannot be applied in place: replace the guest.
      await deleteGuest(s, g);
      return { providerId: providerId(g), upToDate: false, powerState: 'pending', addresses: [{}] };
    }
  }
  if (!g) {
    await create(s, d, p);
    g = await findGuest(s, d.id);
    if (!g)
      throw new BackendError('Transient', `guest ${d.id} not visible yet after create`, {
        retryAfterMs: 1_000,
      });
  }
  if (g.lock) return { providerId: providerId(g), upToDate: false, powerState: 'pending', addresses: [{}] };
  const guest = g;
  let upToDate = true;
  let cfg = await readConfig(s, guest);
  let ip = configuredIp(cfg);
  const apply = async () => {
    const change = differing(desiredConfig(s, d, p, cfg, ip!), cfg);
    if (Object.keys(change).length === 0) return;
    await s.step('configure the guest', () =>
      s.client.put(`${base(guest)}/config`, change, { ...s.o, idempotent: true }),
    );
    cfg = await readConfig(s, guest);
  };
  if (!ip || !inCidr(ip, p.cidr))
    await withSubnetLock(`${s.installation}/${p.subnetTag}`, async () => {
      ip = await allocateIp(s, p.cidr, p.subnetTag, d.id);
      await apply();
    });
  else await apply();
  if (p.type === 'qemu') await resize(s, guest, d);
  await syncFirewall(s, base(guest), d.interfaces[0]!.ingress);
  const status = await s.step('read guest status', () =>
    s.client.get<{ status: string; lock?: string }>(`${base(guest)}/status/current`, undefined, s.o),
  );
  if (status.status === 'stopped') {
    await startGuest(s, guest);
  } else if (status.status === 'running' && (await hasPending(s, guest))) {
    // Changes a running guest could not take at once apply on reboot.
    upToDate = false;
    const upid = await s.step('reboot for pending changes', () =>
      s.client.post<string>(
        `${base(guest)}/status/reboot`,
        { timeout: s.settings.shutdownTimeoutSeconds },
        s.o,
      ),
    );
    await waitFor(s, 'reboot the guest', upid);
    upToDate = !(await hasPending(s, guest));
  }
  const now = await s.step('read guest status', () =>
    s.client.get<{ status: string }>(`${base(guest)}/status/current`, undefined, s.o),
  );
  const powerState: PowerState =
    now.status === 'running' ? 'running' : now.status === 'stopped' ? 'stopped' : 'pending';
  const networkIP = powerState === 'running' ? ((await reportedIp(s, guest, p.cidr)) ?? ip) : ip;
  return { providerId: providerId(guest), upToDate, powerState, addresses: [{ networkIP }] };
}

/**
 * Two creators of one instance (a VMID race resolved by adoption) may both find it stopped and start it: PVE
 * then refuses the second start (VMs: the task fails, containers: the call) with "already running", which is
 * the state we want.
 */
async function startGuest(s: Session, g: Guest): Promise<void> {
  try {
    const upid = await s.step('start the guest', () =>
      s.client.post<string>(`${base(g)}/status/start`, undefined, s.o),
    );
    await waitFor(s, 'start the guest', upid);
  } catch (err) {
    if (!(err instanceof BackendError && /already running/i.test(err.message))) throw err;
  }
}

async function resize(s: Session, g: Guest, d: InstanceDesired): Promise<void> {
  if (d.runtime.kind !== 'virtualMachine') return;
  const cfg = await readConfig(s, g);
  const disk = ['scsi0', 'virtio0', 'sata0'].find((k) => cfg[k] !== undefined);
  if (!disk) return;
  const m = /size=(\d+(?:\.\d+)?)([KMGT]?)/.exec(String(cfg[disk]));
  const gib = m ? Number(m[1]) * ({ K: 1 / 1024 ** 2, M: 1 / 1024, G: 1, T: 1024 }[m[2] || 'G'] ?? 1) : 0;
  if (gib >= d.runtime.diskSizeGiB) return;
  const upid = await s.step('resize the disk', () =>
    s.client.put<string>(
      `${base(g)}/resize`,
      { disk, size: `${d.runtime.kind === 'virtualMachine' ? d.runtime.diskSizeGiB : 0}G` },
      s.o,
    ),
  );
  await waitFor(s, 'resize the disk', upid);
}

export async function deleteInstance(s: Session, id: string): Promise<DeleteResult> {
  const g = await findGuest(s, id);
  if (!g) return { gone: true };
  await deleteGuest(s, g);
  return { gone: !(await findGuest(s, id)) };
}

/** Shutdown (forced after the timeout), destroy with purge, each task awaited. */
export async function deleteGuest(s: Session, g: Guest): Promise<void> {
  if (g.lock && g.lock !== 'destroyed')
    throw new BackendError('Transient', `guest ${g.vmid} is locked (${g.lock}); deleting it after`, {
      retryAfterMs: 3_000,
    });
  try {
    if (g.status === 'running') {
      const upid = await s.client.post<string>(
        `${base(g)}/status/shutdown`,
        { timeout: s.settings.shutdownTimeoutSeconds, forceStop: 1 },
        s.o,
      );
      await waitFor(s, 'shut the guest down', upid);
    }
    const upid = await s.client.delete<string>(base(g), { purge: 1, 'destroy-unreferenced-disks': 1 }, s.o);
    await waitFor(s, 'destroy the guest', upid);
  } catch (err) {
    if (!isNotFound(err)) await s.step('delete the guest', () => Promise.reject(err));
  }
}
