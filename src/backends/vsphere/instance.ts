/**
 * Datum VM Instances → VMs cloned from a template (`images` map) named `datum-<id>` in the configured folder:
 * CPU and memory from the instance type, the NIC on the network's portgroup, a static address in the subnet
 * by guest customization, cloud-init input through guestinfo; then powered on. Idempotent by name: found
 * first, and a DuplicateName from a concurrent create is adopted. Deletion powers off and destroys, awaited.
 */
import {
  BackendError,
  type DeleteResult,
  type InstanceDesired,
  type InstanceObserved,
  type PowerState,
} from '../../datum/backend.ts';
import { allocateAddress, gateway, inCidr, netmask, parseCidr } from './addresses.ts';
import { DuplicateName, InvalidState, ManagedObjectNotFound } from './faults.ts';
import { extraConfigXml, guestinfo, refuseSensitiveFiles } from './guestinfo.ts';
import { scanManaged } from './list.ts';
import { clearMarks, NAME_PREFIX, type OwnerMark, readMarks, writeOwner } from './marks.ts';
import { findPortgroup, portgroupName } from './network.ts';
import { absolute, type Session } from './session.ts';
import type { InstanceShape } from './settings.ts';
import { arr, el, type MoRef, moRefXml, type Node, text, xsiType } from './xml.ts';

export const VM_PROPS = ['customValue', 'runtime.powerState', 'guest.ipAddress', 'config.annotation'];

export function vmName(id: string): string {
  return `${NAME_PREFIX}${id}`;
}

/** The VM of instance `id`: ours by name in the VM folder, or else an adopted one (any name) by its mark. */
export async function findVm(s: Session, id: string): Promise<MoRef | undefined> {
  const p = await s.placement();
  const byName = await s.vim.findByInventoryPath(`${p.vmFolderPath}/${vmName(id)}`, s.signal);
  if (byName) return byName;
  const marked = await scanManaged(s, ['VirtualMachine']);
  return marked.find((v) => v.marks.owner?.kind === 'instance' && v.marks.owner.id === id)?.obj;
}

/** The address a VM has: from VMware Tools when its guest runs, else the one we gave it (mark, annotation). */
export function vmAddress(props: Record<string, Node>, mark: OwnerMark | undefined): string | undefined {
  return (
    text(props['guest.ipAddress']) ||
    mark?.ip ||
    /\bip=(\S+)/.exec(text(props['config.annotation']) ?? '')?.[1]
  );
}

function invalid(msg: string): BackendError {
  return new BackendError('InvalidConfiguration', `vsphere: ${msg}`);
}

export async function ensureInstance(s: Session, d: InstanceDesired): Promise<InstanceObserved> {
  if (d.runtime.kind !== 'virtualMachine')
    throw new BackendError(
      'Unsupported',
      'vsphere: only virtualMachine runtimes run on vSphere (no sandboxes)',
    );
  refuseSensitiveFiles(d);
  const shape = s.settings.instanceTypes[d.instanceType];
  if (!shape) throw invalid(`instance type ${d.instanceType} is not in the instanceTypes map`);
  const nic = d.interfaces[0];
  if (!nic) throw invalid('an Instance needs one network interface');
  if (d.interfaces.length > 1) throw new BackendError('Unsupported', 'vsphere: one network interface per VM');
  const keys = await s.keys();
  return s.locks.run(`vm:${d.id}`, async () => {
    let vm = await findVm(s, d.id);
    let created: OwnerMark | undefined;
    if (!vm) {
      created = await create(s, d, shape);
      vm = await findVm(s, d.id);
      if (!vm) throw new BackendError('Transient', `vsphere: VM ${vmName(d.id)} not found after cloning it`);
    }
    const [cur] = await s.vim.retrieve([vm], VM_PROPS, s.signal);
    if (!cur) throw new BackendError('Transient', `vsphere: VM ${vmName(d.id)} vanished`);
    const marks = readMarks(cur.props.customValue, keys);
    if (marks.installation && marks.installation !== s.installation)
      throw invalid(`VM ${vmName(d.id)} exists and belongs to another installation`);
    let mark = marks.installation === s.installation ? marks.owner : undefined;
    if (!mark) {
      // Ours by name but unmarked: created by a reconcile that crashed before marking it. Adopt it.
      mark = created ?? {
        id: d.id,
        kind: 'instance',
        owner: d.owner,
        subnetId: nic.subnetId,
        ip: vmAddress(cur.props, undefined),
      };
      await writeOwner(s.vim, keys, vm, mark, s.installation, s.signal);
    }
    let power = text(cur.props['runtime.powerState']);
    if (mark.templateHash !== d.templateHash) {
      if (mark.adopted) {
        const moved = await networkDifference(s, vm, nic.networkId);
        if (moved)
          throw new BackendError(
            'Unsupported',
            `vsphere: adopted VM ${vm.value} differs where the provider does not change it (${moved}); an adopted VM is never replaced: make the Instance match it`,
          );
      }
      power = await reconfigure(s, vm, d, shape, power);
      mark = { ...mark, templateHash: d.templateHash };
      await writeOwner(s.vim, keys, vm, mark, s.installation, s.signal);
    }
    if (power !== 'poweredOn') await powerOn(s, vm);
    const [now] = await s.vim.retrieve([vm], VM_PROPS, s.signal);
    // VMware Tools report the guest's address once it runs; until then (and on vcsim, which runs no guest)
    // the address guest customization assigned.
    const ip = text(now?.props['guest.ipAddress']);
    return {
      providerId: vm.value,
      upToDate: true,
      powerState: powerStateOf(text(now?.props['runtime.powerState'])),
      addresses: [{ networkIP: ip || mark.ip }],
    };
  });
}

/**
 * A line saying how the VM's NICs differ from one NIC on the portgroup of `networkId`, or undefined when they
 * do not: for adopted VMs, whose NIC the provider does not move. Read from the NIC backings.
 */
export async function networkDifference(
  s: Session,
  vm: MoRef,
  networkId: string,
): Promise<string | undefined> {
  const [cur] = await s.vim.retrieve([vm], ['config.hardware.device'], s.signal);
  const nics = arr(cur?.props['config.hardware.device']?.VirtualDevice).filter(
    (x: Node) => x.macAddress !== undefined,
  );
  const on = nics.map(
    (n: Node) =>
      text(n.backing?.port?.portgroupKey) ?? text(n.backing?.network) ?? text(n.backing?.deviceName) ?? '?',
  );
  const want = await findPortgroup(s, networkId);
  if (want && on.length === 1) {
    const [pg] =
      want.type === 'DistributedVirtualPortgroup' ? await s.vim.retrieve([want], ['key'], s.signal) : [];
    if ([want.value, text(pg?.props.key), portgroupName(networkId)].includes(on[0])) return undefined;
  }
  return `network: ${on.join(',') || 'none'} → ${portgroupName(networkId)}`;
}

export function powerStateOf(p: string | undefined): PowerState {
  if (p === 'poweredOn') return 'running';
  if (p === 'poweredOff' || p === 'suspended') return 'stopped';
  return 'pending';
}

async function powerOn(s: Session, vm: MoRef): Promise<void> {
  try {
    await s.vim.runTask('PowerOnVM_Task', vm, '', s.signal);
  } catch (err) {
    // Powered on by a concurrent reconcile meanwhile.
    if (!(err instanceof InvalidState)) throw err;
  }
}

async function create(s: Session, d: InstanceDesired, shape: InstanceShape): Promise<OwnerMark> {
  if (d.runtime.kind !== 'virtualMachine') throw invalid('not a VM');
  const nic = d.interfaces[0]!;
  const p = await s.placement();
  const templatePath = s.settings.images[d.runtime.image];
  if (!templatePath) throw invalid(`image ${d.runtime.image} is not in the images map`);
  const template = await s.vim.findByInventoryPath(
    absolute(`/${s.settings.placement.datacenter}/vm`, templatePath),
    s.signal,
  );
  if (!template) throw invalid(`the template '${templatePath}' for image ${d.runtime.image} does not exist`);
  const pg = await findPortgroup(s, nic.networkId);
  if (!pg)
    throw new BackendError('DependencyNotReady', `vsphere: network ${nic.networkId} has no portgroup yet`);
  const [pgProps] = await s.vim.retrieve(
    [pg],
    pg.type === 'DistributedVirtualPortgroup' ? ['customValue', 'key'] : ['customValue'],
    s.signal,
  );
  const subnet = readMarks(pgProps?.props.customValue, await s.keys()).subnets[nic.subnetId];
  if (!subnet)
    throw new BackendError('DependencyNotReady', `vsphere: subnet ${nic.subnetId} is not recorded yet`);
  const [tpl] = await s.vim.retrieve([template], ['config.hardware.device'], s.signal);
  const eth = arr(tpl?.props['config.hardware.device']?.VirtualDevice).find(
    (x: Node) => x.macAddress !== undefined,
  );
  if (!eth) throw invalid(`the template '${templatePath}' has no network adapter`);

  const ip = await reserveAddress(s, d.id, nic.subnetId, subnet.cidr);
  try {
    const name = vmName(d.id);
    const mark: OwnerMark = {
      id: d.id,
      kind: 'instance',
      owner: d.owner,
      ip,
      subnetId: nic.subnetId,
      templateHash: d.templateHash,
    };
    const { prefix } = parseCidr(subnet.cidr);
    const backing = p.dvsUuid
      ? '<backing xsi:type="VirtualEthernetCardDistributedVirtualPortBackingInfo"><port>' +
        `${el('switchUuid', p.dvsUuid)}${el('portgroupKey', text(pgProps?.props.key) ?? pg.value)}</port></backing>`
      : `<backing xsi:type="VirtualEthernetCardNetworkBackingInfo">${el('deviceName', portgroupName(nic.networkId))}${moRefXml('network', pg)}</backing>`;
    const nicEdit =
      `<deviceChange>${el('operation', 'edit')}<device xsi:type="${xsiType(eth)}">${el('key', text(eth.key))}` +
      backing +
      `${el('controllerKey', text(eth.controllerKey))}${el('unitNumber', text(eth.unitNumber))}</device></deviceChange>`;
    const spec =
      `<location>${moRefXml('datastore', p.datastore)}${moRefXml('pool', p.pool)}</location>` +
      el('template', false) +
      `<config>${el('annotation', `Managed by Datum (${d.owner.namespace}/${d.owner.name}) ip=${ip}`)}` +
      `${el('numCPUs', shape.cpus)}${el('memoryMB', shape.memoryMiB)}${nicEdit}` +
      `${extraConfigXml(guestinfo(d, name))}</config>` +
      '<customization><identity xsi:type="CustomizationLinuxPrep">' +
      `<hostName xsi:type="CustomizationFixedName">${el('name', name)}</hostName>${el('domain', 'local')}</identity>` +
      '<globalIPSettings></globalIPSettings><nicSettingMap><adapter>' +
      `<ip xsi:type="CustomizationFixedIp">${el('ipAddress', ip)}</ip>` +
      `${el('subnetMask', netmask(prefix))}${el('gateway', gateway(subnet.cidr))}` +
      '</adapter></nicSettingMap></customization>' +
      el('powerOn', false);
    let vm: MoRef | undefined;
    try {
      s.signal.throwIfAborted();
      // Once sent, the create is not cancelled: its task reference is what lets us finish the job below.
      const task = await s.vim.startTask(
        'CloneVM_Task',
        template,
        moRefXml('folder', p.vmFolder) + el('name', name) + `<spec>${spec}</spec>`,
      );
      const result = await (async () => {
        s.signal.throwIfAborted();
        return s.vim.waitForTask(task, 'CloneVM_Task', s.signal);
      })().catch((err) => {
        if (s.signal.aborted) markWhenDone(s, task, mark);
        throw err;
      });
      vm = result && text(result) ? { type: 'VirtualMachine', value: text(result)! } : undefined;
    } catch (err) {
      // A concurrent reconcile (another process) cloned it first: the caller adopts it if it is ours.
      if (err instanceof DuplicateName) return mark;
      throw err;
    }
    vm ??= await findVm(s, d.id);
    if (vm) {
      await writeOwner(s.vim, await s.keys(), vm, mark, s.installation, s.signal);
      await growBootDisk(s, vm, d.runtime.diskSizeGiB);
    }
    return mark;
  } finally {
    s.reserved.get(nic.subnetId)?.delete(ip);
  }
}

/**
 * The caller stopped waiting (its reconcile was cancelled) but the clone goes on in vCenter: mark the VM when
 * it appears, so it is never an unmarked leftover (the next reconcile adopts it, or the orphan sweep deletes
 * it if its Instance is gone by then).
 */
function markWhenDone(s: Session, task: MoRef, mark: OwnerMark): void {
  void (async () => {
    const result = text(await s.vim.waitForTask(task, 'CloneVM_Task'));
    if (!result) return;
    await writeOwner(s.vim, await s.keys(), { type: 'VirtualMachine', value: result }, mark, s.installation);
  })().catch(() => {});
}

/**
 * Grows the clone's first disk to the Datum boot disk size (disks only grow: a template disk larger than asked
 * stays as it is). Before the first power-on, so the guest's first boot sees the full disk.
 */
async function growBootDisk(s: Session, vm: MoRef, sizeGiB: number): Promise<void> {
  const [cur] = await s.vim.retrieve([vm], ['config.hardware.device'], s.signal);
  const disk = arr(cur?.props['config.hardware.device']?.VirtualDevice).find(
    (x: Node) => xsiType(x) === 'VirtualDisk',
  );
  const want = sizeGiB * 1024 * 1024;
  if (!disk || !(want > Number(text(disk.capacityInKB) ?? 0))) return;
  const b = disk.backing ?? {};
  const device =
    `${el('key', text(disk.key))}<backing xsi:type="${xsiType(b) ?? 'VirtualDiskFlatVer2BackingInfo'}">` +
    `${el('fileName', text(b.fileName) ?? '')}${el('diskMode', text(b.diskMode) ?? 'persistent')}</backing>` +
    `${el('controllerKey', text(disk.controllerKey))}${el('unitNumber', text(disk.unitNumber))}${el('capacityInKB', want)}${el('capacityInBytes', want * 1024)}`;
  await s.vim.runTask(
    'ReconfigVM_Task',
    vm,
    `<spec><deviceChange>${el('operation', 'edit')}<device xsi:type="VirtualDisk">${device}</device></deviceChange></spec>`,
    s.signal,
  );
}

/** A free address in the subnet: not held by a managed VM's mark nor reserved by a create in flight. */
async function reserveAddress(s: Session, id: string, subnetId: string, cidr: string): Promise<string> {
  return s.locks.run(`ip:${subnetId}`, async () => {
    const taken = new Set<string>(s.reserved.get(subnetId) ?? []);
    for (const vm of await scanManaged(s, ['VirtualMachine']))
      if (vm.marks.owner?.ip && inCidr(vm.marks.owner.ip, cidr)) taken.add(vm.marks.owner.ip);
    const ip = allocateAddress(id, cidr, taken);
    const set = s.reserved.get(subnetId) ?? new Set<string>();
    s.reserved.set(subnetId, set);
    set.add(ip);
    return ip;
  });
}

/** Applies a changed spec: CPU and memory (powered off first, no hot-add assumed) and the guestinfo. */
async function reconfigure(
  s: Session,
  vm: MoRef,
  d: InstanceDesired,
  shape: InstanceShape,
  power: string | undefined,
): Promise<string | undefined> {
  const [hw] = await s.vim.retrieve([vm], ['config.hardware.numCPU', 'config.hardware.memoryMB'], s.signal);
  const resize =
    Number(text(hw?.props['config.hardware.numCPU'])) !== shape.cpus ||
    Number(text(hw?.props['config.hardware.memoryMB'])) !== shape.memoryMiB;
  let state = power;
  if (resize && state === 'poweredOn') {
    await s.vim.runTask('PowerOffVM_Task', vm, '', s.signal);
    state = 'poweredOff';
  }
  const spec =
    (resize ? el('numCPUs', shape.cpus) + el('memoryMB', shape.memoryMiB) : '') +
    extraConfigXml(guestinfo(d, vmName(d.id)));
  await s.vim.runTask('ReconfigVM_Task', vm, `<spec>${spec}</spec>`, s.signal);
  return state;
}

export async function deleteInstance(s: Session, id: string): Promise<DeleteResult> {
  const vm = await findVm(s, id);
  if (!vm) return { gone: true };
  try {
    const [cur] = await s.vim.retrieve([vm], ['runtime.powerState'], s.signal);
    if (text(cur?.props['runtime.powerState']) === 'poweredOn') {
      try {
        await s.vim.runTask('PowerOffVM_Task', vm, '', s.signal);
      } catch (err) {
        if (!(err instanceof InvalidState)) throw err;
      }
    }
    await s.vim.runTask('Destroy_Task', vm, '', s.signal);
  } catch (err) {
    if (!(err instanceof ManagedObjectNotFound)) throw err;
  }
  return { gone: !(await findVm(s, id)) };
}

export async function releaseInstance(s: Session, id: string): Promise<string[]> {
  const vm = await findVm(s, id);
  if (!vm) return [];
  const [cur] = await s.vim.retrieve([vm], ['customValue'], s.signal);
  if (readMarks(cur?.props.customValue, await s.keys()).installation !== s.installation) return [];
  await clearMarks(s.vim, await s.keys(), vm, s.signal);
  return [vm.value];
}
