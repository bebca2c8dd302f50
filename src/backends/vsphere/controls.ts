/**
 * Operator controls on VMs:
 * - adopt: an existing VM (by managed object id, e.g. `vm-42`, the provider id the backend reports) gets our
 *   ownership marks (custom attributes, with `adopted`), unless it carries another installation's or another
 *   object's (AdoptionConflict, nothing written). It keeps its name and place: found by its mark from then on.
 *   The next ensure applies the spec in place (CPU, memory, guestinfo); a VM on another network is refused,
 *   never replaced.
 * - observe: the VM as it is, read-only: property reads only (no custom attribute defined, no mark written).
 * - plan: what an ensure would do, read-only, one short line per change; guestinfo values are never printed.
 */
import {
  BackendError,
  type InstanceDesired,
  type InstanceObserved,
  type InstancePlan,
} from '../../datum/backend.ts';
import { ManagedObjectNotFound } from './faults.ts';
import { guestinfo } from './guestinfo.ts';
import { findVm, networkDifference, powerStateOf, VM_PROPS, vmAddress, vmName } from './instance.ts';
import { type OwnerMark, readMarks, writeOwner } from './marks.ts';
import type { Session } from './session.ts';
import { arr, type MoRef, type Node, text } from './xml.ts';

function vmRef(providerId: string): MoRef {
  return { type: 'VirtualMachine', value: providerId };
}

/** The VM's properties, or undefined when there is no such VM. */
async function readVm(
  s: Session,
  vm: MoRef,
  extra: string[] = [],
): Promise<Record<string, Node> | undefined> {
  try {
    const [cur] = await s.vim.retrieve([vm], [...VM_PROPS, ...extra], s.signal);
    return cur?.props;
  } catch (err) {
    if (err instanceof ManagedObjectNotFound) return undefined;
    throw err;
  }
}

export async function adoptInstance(
  s: Session,
  providerId: string,
  d: InstanceDesired,
): Promise<{ providerId: string }> {
  const vm = vmRef(providerId);
  if (!(await readVm(s, vm))) throw new BackendError('NotFound', `vsphere: no VM ${providerId} to adopt`);
  const keys = await s.keys();
  return s.locks.run(`vm:${d.id}`, async () => {
    const cur = await readVm(s, vm, ['config.template']);
    if (!cur) throw new BackendError('NotFound', `vsphere: no VM ${providerId} to adopt`);
    if (text(cur['config.template']) === 'true')
      throw new BackendError('InvalidConfiguration', `vsphere: ${providerId} is a template, not a VM`);
    const marks = readMarks(cur.customValue, keys);
    if (marks.installation) {
      const o = marks.owner;
      if (marks.installation === s.installation && o?.id === d.id && o.owner.uid === d.owner.uid)
        return { providerId };
      const whose =
        marks.installation !== s.installation
          ? `another installation (${marks.installation})`
          : `${o?.owner.kind ?? 'object'} ${o?.owner.namespace}/${o?.owner.name}`;
      throw new BackendError(
        'AdoptionConflict',
        `vsphere: VM ${providerId} is managed by ${whose}: not adopting it`,
      );
    }
    const mine = await findVm(s, d.id);
    if (mine && mine.value !== providerId)
      throw new BackendError(
        'InvalidConfiguration',
        `vsphere: this Instance already runs as ${mine.value}; adopting ${providerId} too would leave one unmanaged`,
      );
    const mark: OwnerMark = {
      id: d.id,
      kind: 'instance',
      owner: d.owner,
      subnetId: d.interfaces[0]?.subnetId,
      ip: vmAddress(cur, undefined),
      adopted: true,
    };
    await writeOwner(s.vim, keys, vm, mark, s.installation, s.signal);
    return { providerId };
  });
}

export async function observeInstance(
  s: Session,
  ref: { id: string; providerId?: string },
): Promise<InstanceObserved | undefined> {
  const vm = ref.providerId ? vmRef(ref.providerId) : await findVm(s, ref.id);
  const cur = vm && (await readVm(s, vm));
  if (!vm || !cur) return undefined;
  const marks = readMarks(cur.customValue, await s.readKeys());
  // By id: the VM carrying our marks (or ours by name, unmarked after an interrupted create); not another's.
  if (!ref.providerId && marks.installation && marks.installation !== s.installation) return undefined;
  const ip = vmAddress(cur, marks.installation === s.installation ? marks.owner : undefined);
  return {
    providerId: vm.value,
    upToDate: false,
    powerState: powerStateOf(text(cur['runtime.powerState'])),
    addresses: [ip ? { networkIP: ip } : {}],
  };
}

const GUESTINFO_LINES: Record<string, string> = {
  'guestinfo.userdata': 'cloud-init user data (ssh keys, files)',
  'guestinfo.metadata': 'cloud-init metadata',
};

export async function planInstance(s: Session, d: InstanceDesired): Promise<InstancePlan> {
  const shape = s.settings.instanceTypes[d.instanceType];
  if (!shape)
    throw new BackendError(
      'InvalidConfiguration',
      `vsphere: instance type ${d.instanceType} is not in the instanceTypes map`,
    );
  const vm = await findVm(s, d.id);
  const cur =
    vm && (await readVm(s, vm, ['config.hardware.numCPU', 'config.hardware.memoryMB', 'config.extraConfig']));
  if (!vm || !cur) return { action: 'create', changes: [] };
  const marks = readMarks(cur.customValue, await s.readKeys());
  if (marks.installation && marks.installation !== s.installation)
    throw new BackendError(
      'InvalidConfiguration',
      `vsphere: VM ${vmName(d.id)} exists and belongs to another installation`,
    );
  const mark = marks.installation === s.installation ? marks.owner : undefined;
  const changes: string[] = [];
  if (!mark) changes.push('ownership marks: written (left unmarked by an interrupted create)');
  if (mark?.templateHash !== d.templateHash) {
    const nic = d.interfaces[0];
    const moved = mark?.adopted && nic ? await networkDifference(s, vm, nic.networkId) : undefined;
    if (moved) changes.push(`${moved} (an adopted VM is not moved: the ensure refuses)`);
    const cpus = Number(text(cur['config.hardware.numCPU']));
    const mem = Number(text(cur['config.hardware.memoryMB']));
    const resize = cpus !== shape.cpus || mem !== shape.memoryMiB;
    if (cpus !== shape.cpus) changes.push(`cpus: ${cpus} → ${shape.cpus}`);
    if (mem !== shape.memoryMiB) changes.push(`memory: ${mem} MiB → ${shape.memoryMiB} MiB`);
    if (resize && text(cur['runtime.powerState']) === 'poweredOn')
      changes.push('power: off to resize, then on again');
    const extra = new Map<string, string>(
      arr(cur['config.extraConfig']?.OptionValue).map((o: Node) => [text(o.key) ?? '', text(o.value) ?? '']),
    );
    const want = guestinfo(d, vmName(d.id));
    for (const [key, what] of Object.entries(GUESTINFO_LINES))
      if (extra.get(key) !== want[key]) changes.push(`${what}: changed`);
    if (changes.length === 0) changes.push('template hash: recorded (nothing applied in place differs)');
  }
  if (text(cur['runtime.powerState']) !== 'poweredOn' && !changes.some((c) => c.startsWith('power:')))
    changes.push('power: start');
  return { action: changes.length ? 'update' : 'none', changes };
}
