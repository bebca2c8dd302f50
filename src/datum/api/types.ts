/**
 * Datum API types, classic generation: compute.datumapis.com/v1alpha (compute main) and
 * networking.datumapis.com/v1alpha (network-services-operator v0.21.9). Written by hand, field for field;
 * `test/datum/types.unit.test.ts` reads these interfaces with the TypeScript compiler and checks every field,
 * enum and required marker against the upstream CRD schemas, so they cannot drift silently.
 * Optional (`?`) means optional in the CRD schema; a field without `?` is required there.
 */
import type { Condition, KubeObject } from '../../runtime/client/types.ts';

/** A Kubernetes quantity: "10Gi", "500m" or a number. */
export type Quantity = string | number;
export type IntOrString = string | number;

// ---------- networking.datumapis.com/v1alpha ----------

export interface LocationReference {
  name: string;
  namespace: string;
}

export interface LocationSpec {
  locationClassName: string;
  topology: Record<string, string>;
  provider: { gcp?: { projectId: string; region: string; zone: string } };
}
export interface Location extends KubeObject {
  spec?: LocationSpec;
  status?: { conditions?: Condition[] };
}

export interface NetworkSpec {
  ipam: { mode: 'Auto' | 'Policy'; ipv4Range?: string; ipv6Range?: string };
  ipFamilies?: ('IPv4' | 'IPv6')[];
  mtu?: number;
}
export interface Network extends KubeObject {
  spec: NetworkSpec;
  status?: { conditions?: Condition[] };
}

export interface NetworkRef {
  name: string;
  namespace?: string;
}

export interface NetworkBindingSpec {
  network: NetworkRef;
  location: LocationReference;
}
export interface NetworkBinding extends KubeObject {
  spec: NetworkBindingSpec;
  status?: { networkContextRef?: { name: string; namespace: string }; conditions?: Condition[] };
}

export interface NetworkContextSpec {
  network: { name: string };
  location: LocationReference;
}
export interface NetworkContext extends KubeObject {
  spec?: NetworkContextSpec;
  status?: { conditions?: Condition[] };
}

export interface NetworkPolicy extends KubeObject {
  spec?: Record<string, never>;
  status?: Record<string, never>;
}

export interface SubnetClaimSpec {
  subnetClass: string;
  networkContext: { name: string };
  location: LocationReference;
  ipFamily: 'IPv4' | 'IPv6';
  startAddress?: string;
  prefixLength?: number;
}
export interface SubnetClaim extends KubeObject {
  spec?: SubnetClaimSpec;
  status?: {
    subnetRef?: { name: string };
    startAddress?: string;
    prefixLength?: number;
    conditions?: Condition[];
  };
}

export interface SubnetSpec {
  subnetClass: string;
  networkContext: { name: string };
  location: LocationReference;
  ipFamily: 'IPv4' | 'IPv6';
  startAddress: string;
  prefixLength: number;
}
export interface Subnet extends KubeObject {
  spec?: SubnetSpec;
  status?: { startAddress?: string; prefixLength?: number; conditions?: Condition[] };
}

export interface NetworkPolicyIngressRule {
  ports?: { protocol?: string; port?: IntOrString; endPort?: number }[];
  from?: { ipBlock?: { cidr: string; except?: string[] } }[];
}

// ---------- compute.datumapis.com/v1alpha ----------

export interface NamedPort {
  name: string;
  port: number;
  protocol?: string;
}

export interface KeySelector {
  key: string;
  name?: string;
  optional?: boolean;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: KeySelector;
    secretKeyRef?: KeySelector;
    fieldRef?: { apiVersion?: string; fieldPath: string };
    resourceFieldRef?: { containerName?: string; divisor?: IntOrString; resource: string };
  };
}

export interface VolumeAttachment {
  name: string;
  mountPath?: string;
}

export interface SandboxContainer {
  name: string;
  image: string;
  env?: EnvVar[];
  resources?: { limits?: Record<string, Quantity>; requests?: Record<string, Quantity> };
  volumeAttachments?: VolumeAttachment[];
  ports?: NamedPort[];
}

export interface InstanceRuntimeSpec {
  resources: { instanceType: string; requests?: Record<string, Quantity> };
  sandbox?: { containers: SandboxContainer[]; imagePullSecrets?: { name: string }[] };
  virtualMachine?: { volumeAttachments: VolumeAttachment[]; ports?: NamedPort[] };
}

export interface InstanceNetworkInterface {
  network: NetworkRef;
  networkPolicy?: { ingress?: NetworkPolicyIngressRule[] };
}

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export interface DiskTemplate {
  metadata?: ObjectMetaTemplate;
  spec: {
    type?: string;
    resources?: { requests?: Record<string, Quantity> };
    populator?: { image?: { name: string }; filesystem?: { type: 'ext4' } };
  };
}

export interface ObjectMetaTemplate {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

export interface InstanceVolume {
  name: string;
  disk?: { deviceName?: string; template: DiskTemplate };
  configMap?: { name?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  secret?: { secretName?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
}

export interface InstanceSpec {
  runtime: InstanceRuntimeSpec;
  networkInterfaces: InstanceNetworkInterface[];
  volumes?: InstanceVolume[];
  location?: LocationReference;
  controller?: { templateHash: string; schedulingGates?: { name: string }[] };
}

export interface InstanceStatus {
  conditions?: Condition[];
  networkInterfaces?: { assignments?: { networkIP?: string; externalIP?: string } }[];
  controller?: { observedTemplateHash: string };
}

export interface Instance extends KubeObject {
  spec?: InstanceSpec;
  status?: InstanceStatus;
}

export interface InstanceTemplateSpec {
  metadata?: ObjectMetaTemplate;
  spec: InstanceSpec;
}

export interface HorizontalScaleSettings {
  minReplicas: number;
  maxReplicas?: number;
  metrics?: {
    resource?: {
      name: string;
      target: { value?: IntOrString; averageValue?: IntOrString; averageUtilization?: number };
    };
  }[];
  instanceManagementPolicy: string;
}

export interface WorkloadPlacement {
  name: string;
  cityCodes: string[];
  scaleSettings: HorizontalScaleSettings;
}

export interface ReplicaCounts {
  replicas: number;
  currentReplicas: number;
  desiredReplicas: number;
  readyReplicas: number;
}

export interface Workload extends KubeObject {
  spec: { template: InstanceTemplateSpec; placements: WorkloadPlacement[] };
  status?: ReplicaCounts & {
    conditions?: Condition[];
    deployments: number;
    placements?: (ReplicaCounts & { name: string; conditions?: Condition[] })[];
    /** Gateway API GatewayStatus; unused by compute (see datum-contract.md §4.1). */
    gateway?: Record<string, unknown>;
  };
}

export interface WorkloadDeployment extends KubeObject {
  spec?: {
    workloadRef: { name: string; uid: string };
    placementName: string;
    cityCode: string;
    template: InstanceTemplateSpec;
    scaleSettings: HorizontalScaleSettings;
  };
  status?: ReplicaCounts & { location?: LocationReference; conditions?: Condition[] };
}
