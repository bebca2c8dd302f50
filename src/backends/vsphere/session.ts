/**
 * What one backend call works with: the vim client of its endpoint and credentials, resolved settings and
 * placement (inventory paths turned into managed object references, cached), our installation identity, the
 * caller's AbortSignal, and in-process locks for the read-modify-write steps (VLAN and address allocation,
 * the subnets mark).
 */
import { BackendError } from '../../datum/backend.ts';
import type { KeyedMutex } from '../../runtime/util/keyed-mutex.ts';
import type { FieldKeys } from './marks.ts';
import type { VsphereSettings } from './settings.ts';
import type { VimClient } from './vim.ts';
import { arr, type MoRef, moRef, type Node, text } from './xml.ts';

export interface PlacementRefs {
  vmFolder: MoRef;
  vmFolderPath: string;
  networkFolderPath: string;
  pool: MoRef;
  datastore: MoRef;
  /** Distributed mode: the switch and its uuid. */
  dvs?: MoRef;
  dvsUuid?: string;
  /** Standard mode: the network system of every host of the resource pool's cluster. */
  networkSystems: MoRef[];
}

export interface Session {
  vim: VimClient;
  settings: VsphereSettings;
  installation: string;
  signal: AbortSignal;
  /** Custom attribute keys, defining the attributes on first use (callers that write marks). */
  keys(): Promise<FieldKeys>;
  /** The same keys without defining anything (read-only callers: observe, plan, listing). */
  readKeys(): Promise<FieldKeys>;
  placement(): Promise<PlacementRefs>;
  locks: KeyedMutex;
  /** Addresses chosen by creates in flight, per subnet id (until their VM carries its mark). */
  reserved: Map<string, Set<string>>;
}

export function absolute(base: string, path: string): string {
  return path.startsWith('/') ? path : `${base}/${path}`.replace(/\/+$/, '');
}

export async function resolvePlacement(
  vim: VimClient,
  s: VsphereSettings,
  signal: AbortSignal,
): Promise<PlacementRefs> {
  const p = s.placement;
  const dc = `/${p.datacenter}`;
  const find = async (what: string, path: string) => {
    const ref = await vim.findByInventoryPath(path, signal);
    if (!ref)
      throw new BackendError(
        'InvalidConfiguration',
        `vsphere: the ${what} '${path}' does not exist (check the placement config)`,
      );
    return ref;
  };
  const vmFolderPath = absolute(`${dc}/vm`, p.vmFolder);
  const [vmFolder, pool, datastore] = await Promise.all([
    find('VM folder', vmFolderPath),
    find('resource pool', absolute(`${dc}/host`, p.resourcePool)),
    find('datastore', absolute(`${dc}/datastore`, p.datastore)),
  ]);
  const refs: PlacementRefs = {
    vmFolder,
    vmFolderPath,
    networkFolderPath: `${dc}/network`,
    pool,
    datastore,
    networkSystems: [],
  };
  if (s.portgroupType === 'distributed') {
    refs.dvs = await find('distributed switch', absolute(`${dc}/network`, p.dvSwitch));
    const [props] = await vim.retrieve([refs.dvs], ['uuid'], signal);
    refs.dvsUuid = text(props?.props.uuid);
    if (!refs.dvsUuid)
      throw new BackendError('InvalidConfiguration', `vsphere: '${p.dvSwitch}' is not a distributed switch`);
  } else {
    // A standard portgroup exists per host: every host that can run the pool's VMs gets it.
    const [poolProps] = await vim.retrieve([pool], ['owner'], signal);
    const owner = moRef(poolProps?.props.owner);
    const [cr] = owner ? await vim.retrieve([owner], ['host'], signal) : [];
    const hosts = arr(cr?.props.host?.ManagedObjectReference)
      .map((h: Node) => moRef(h))
      .filter((h): h is MoRef => !!h);
    const systems = await vim.retrieve(hosts, ['configManager.networkSystem'], signal);
    refs.networkSystems = systems
      .map((o) => moRef(o.props['configManager.networkSystem']))
      .filter((m): m is MoRef => !!m);
    if (!refs.networkSystems.length)
      throw new BackendError(
        'InvalidConfiguration',
        `vsphere: the resource pool '${p.resourcePool}' has no hosts`,
      );
  }
  return refs;
}
