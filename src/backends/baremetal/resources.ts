/** The bare-metal inventory's Kubernetes kinds (deploy/crds), read and written through the runtime client. */
import type { ResourceOwner } from '../../datum/backend.ts';
import type { KubeObject, ResourceType } from '../../runtime/client/types.ts';

const GROUP = 'infra.provider-ts.io';

export const BARE_METAL_HOST: ResourceType = {
  group: GROUP,
  version: 'v1alpha1',
  kind: 'BareMetalHost',
  plural: 'baremetalhosts',
  namespaced: false,
};

export const BARE_METAL_NETWORK: ResourceType = {
  group: GROUP,
  version: 'v1alpha1',
  kind: 'BareMetalNetwork',
  plural: 'baremetalnetworks',
  namespaced: false,
};

export const SECRET: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  plural: 'secrets',
  namespaced: true,
};

export type HostPhase = 'free' | 'claimed' | 'provisioning' | 'provisioned' | 'deprovisioning' | 'retained';

export interface HostStatus {
  phase?: HostPhase;
  claimedBy?: string;
  installation?: string;
  owner?: ResourceOwner;
  subnetId?: string;
  templateHash?: string;
  image?: string;
  powerRequestedAt?: string;
  claimedAt?: string;
  retainedFrom?: string;
  /** Claimed with the adopt annotation: running as it was found, never re-imaged. */
  adopted?: boolean;
  message?: string;
}

export interface BareMetalHost extends KubeObject {
  spec: {
    bmc: { address: string; credentialsSecretRef: { namespace: string; name: string } };
    bootMACAddress?: string;
    capacity: { cpu: number; memoryGiB: number; gpus?: number };
    site?: Record<string, string>;
    addresses?: string[];
  };
  status?: HostStatus;
}

export interface BareMetalNetwork extends KubeObject {
  spec: {
    type: 'network' | 'subnet';
    cidr: string;
    networkId?: string;
    installation?: string;
    owner?: ResourceOwner;
  };
}
