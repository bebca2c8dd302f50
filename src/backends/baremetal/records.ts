/**
 * Networks and subnets on bare metal: there is no network API to program, so the backend records what it was
 * asked for as a BareMetalNetwork (named by the backend id, marked with the installation and owner). That keeps
 * ensure idempotent across restarts, lets listManaged and the orphan sweep see them, and gives instances the
 * subnet range to pick a host address from.
 */
import type { NetworkDesired, SubnetDesired } from '../../datum/backend.ts';
import { BackendError } from '../../datum/backend.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { isAlreadyExists, isNotFound } from '../../runtime/client/errors.ts';
import { kubeError } from './inventory.ts';
import { BARE_METAL_NETWORK, type BareMetalNetwork } from './resources.ts';

export class NetworkRecords {
  private readonly home: HttpClient;

  constructor(home: HttpClient) {
    this.home = home;
  }

  async ensure(
    desired: (NetworkDesired & { type: 'network' }) | (SubnetDesired & { type: 'subnet' }),
    installation: string,
  ): Promise<BareMetalNetwork> {
    const spec =
      desired.type === 'network'
        ? { type: desired.type, cidr: desired.ipv4Cidr, installation, owner: desired.owner }
        : {
            type: desired.type,
            cidr: desired.cidr,
            networkId: desired.networkId,
            installation,
            owner: desired.owner,
          };
    try {
      return await this.home.create<BareMetalNetwork>(BARE_METAL_NETWORK, {
        metadata: { name: desired.id },
        spec,
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw kubeError(err, `recording ${desired.type} ${desired.id}`);
    }
    const existing = await this.get(desired.id);
    if (!existing)
      throw new BackendError('Transient', `${desired.type} ${desired.id} vanished while recorded`);
    if (existing.spec.installation !== installation)
      throw new BackendError(
        'InvalidConfiguration',
        `${desired.type} ${desired.id} belongs to another installation`,
      );
    return existing;
  }

  async get(id: string): Promise<BareMetalNetwork | undefined> {
    try {
      return await this.home.get<BareMetalNetwork>(BARE_METAL_NETWORK, id);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw kubeError(err, `reading ${id}`);
    }
  }

  async list(installation: string): Promise<BareMetalNetwork[]> {
    try {
      const l = await this.home.list<BareMetalNetwork>(BARE_METAL_NETWORK);
      return l.items.filter((r) => r.spec.installation === installation);
    } catch (err) {
      throw kubeError(err, 'listing BareMetalNetworks');
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.home.delete(BARE_METAL_NETWORK, id);
    } catch (err) {
      if (!isNotFound(err)) throw kubeError(err, `deleting ${id}`);
    }
  }
}
