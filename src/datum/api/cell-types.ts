/**
 * Datum's cell generation (compute v0.8+, NSO v0.26+): the Instance, WorkloadDeployment, RuntimeClass and
 * InstanceType as a cell sees them. Field for field as the shared cell-generation CRDs (Instance: the
 * ab497d5 variant, the one coherent with the WorkloadDeployment); `test/datum/cell-types.unit.test.ts`
 * checks every field with the TypeScript compiler. Shapes identical to the classic generation are reused.
 */
import type { Condition, KubeObject } from '../../runtime/client/types.ts';
import type {
  EnvVar,
  HorizontalScaleSettings,
  InstanceVolume,
  NamedPort,
  NetworkPolicyIngressRule,
  NetworkRef,
  ObjectMetaTemplate,
  Quantity,
  VolumeAttachment,
} from './types.ts';

/** The classic EnvVar plus Kubernetes' newer `fileKeyRef` (never resolved here: refused as unsupported). */
export interface CellEnvVar extends EnvVar {
  valueFrom?: EnvVar['valueFrom'] & {
    fileKeyRef?: { key: string; optional?: boolean; path: string; volumeName: string };
  };
}

export interface CellSandboxContainer {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: CellEnvVar[];
  envFrom?: {
    prefix?: string;
    configMapRef?: { name: string; optional?: boolean };
    secretRef?: { name: string; optional?: boolean };
  }[];
  resources?: { limits?: Record<string, Quantity>; requests?: Record<string, Quantity> };
  volumeAttachments?: VolumeAttachment[];
  ports?: NamedPort[];
}

export interface CellInstanceRuntimeSpec {
  /** The catalog name of the RuntimeClass (the ab497d5 CRD still limits it to two names). */
  class?: 'unikernel' | 'general-purpose';
  resources: { instanceType: string; requests?: Record<string, Quantity> };
  sandbox?: { containers: CellSandboxContainer[]; imagePullSecrets?: { name: string }[] };
  virtualMachine?: { volumeAttachments: VolumeAttachment[]; ports?: NamedPort[] };
}

export interface CellNetworkInterface {
  name?: string;
  network: NetworkRef;
  ipFamilies?: ('IPv4' | 'IPv6')[];
  addresses?: { class: string }[];
  reclaimPolicy?: 'Delete' | 'Retain';
  networkPolicy?: { ingress?: NetworkPolicyIngressRule[] };
}

export interface CellInstanceSpec {
  runtime: CellInstanceRuntimeSpec;
  networkInterfaces: CellNetworkInterface[];
  volumes?: InstanceVolume[];
  /** A cell's Locations are cluster-scoped (locations.miloapis.com): a name only. */
  location?: { name: string };
  controller?: { templateHash: string; schedulingGates?: { name: string }[] };
}

export interface CellAddress {
  family: 'IPv4' | 'IPv6';
  address: string;
  gateway?: string;
  primary?: boolean;
  class?: string;
}

export interface CellInstanceStatus {
  conditions?: Condition[];
  networkInterfaces?: {
    name?: string;
    /** Set when NSO attached a NetworkInterface: then compute, not the provider, publishes addresses. */
    networkInterfaceRef?: { name: string };
    addresses?: CellAddress[];
    externalAddresses?: { family: 'IPv4' | 'IPv6'; address: string; class: string }[];
    conditions?: Condition[];
    assignments?: { networkIP?: string; externalIP?: string };
  }[];
  controller?: { observedTemplateHash: string };
  suspended?: boolean;
}

export interface CellInstance extends KubeObject {
  spec?: CellInstanceSpec;
  status?: CellInstanceStatus;
}

export interface CellWorkloadDeployment extends KubeObject {
  spec?: {
    workloadRef: { name: string; uid: string };
    placementName: string;
    cityCode: string;
    replicas?: number;
    template: { metadata?: ObjectMetaTemplate; spec: CellInstanceSpec };
    scaleSettings: HorizontalScaleSettings;
  };
  status?: {
    replicas: number;
    currentReplicas: number;
    desiredReplicas: number;
    readyReplicas: number;
    updatedReplicas: number;
    observedGeneration?: number;
    selector?: string;
    suspended?: boolean;
    location?: { name: string };
    conditions?: Condition[];
  };
}

export type RuntimeFeature =
  | 'sandboxRuntime'
  | 'virtualMachineRuntime'
  | 'configMapVolumes'
  | 'secretVolumes'
  | 'diskVolumes'
  | 'deviceVolumeAttachments'
  | 'envFrom'
  | 'imagePullSecrets';

export type LifecycleOperation = 'Suspend' | 'Resume' | 'Snapshot';

export interface RuntimeClassSpec {
  controllerName: string;
  displayName?: string;
  description?: string;
  default?: boolean;
  isolation: { boundary: string; description?: string };
  capabilities: { features?: RuntimeFeature[]; compatibility?: string };
  lifecycle?: { typicalStartupTime?: string; operations?: LifecycleOperation[]; description?: string };
}

export interface RuntimeClass extends KubeObject {
  spec?: RuntimeClassSpec;
  status?: { conditions?: Condition[] };
}

export interface InstanceType extends KubeObject {
  spec?: {
    displayName?: string;
    description?: string;
    resources: { cpu: Quantity; memory: Quantity };
    lifecycle: { phase: 'Active' | 'Deprecated' | 'Disabled'; replacementInstanceType?: string };
  };
  status?: { conditions?: Condition[]; deprecatedAt?: string };
}

/** locations.miloapis.com ServingLocation: tells a cell which Location it serves (its name) and its city. */
export interface ServingLocation extends KubeObject {
  spec?: {
    topology: Record<string, string>;
    source?: { generation?: number; publishedAt?: string };
  };
}
