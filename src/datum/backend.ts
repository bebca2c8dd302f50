/**
 * The backend plugin interface: what a platform implements. Desired state in, observed state out.
 * No Kubernetes types cross this boundary; the reconcilers translate Datum objects into these shapes.
 *
 * Rules every backend honours (the contract suite checks them):
 * - `ensure*` is idempotent: called on every reconcile with the same `id` it creates at most one resource
 *   and converges drift (e.g. firewall rules) towards `desired`.
 * - `id` is deterministic (derived from the upstream UID by the reconciler) and `owner` is written as tags or
 *   labels on every platform resource, so that `listManaged` can find them and a crashed reconcile adopts
 *   instead of duplicating.
 * - `delete*` is awaited: it returns `{ gone: false }` while the platform is still tearing down and
 *   `{ gone: true }` only once the resource no longer exists (deleting a missing resource is `gone`).
 * - Failures throw `BackendError` with a catalogue reason; anything else is treated as transient.
 * - Credentials arrive in `BackendContext.credentials` and never appear in errors or logs.
 */
import type { Logger } from '../runtime/log/logger.ts';

export type RuntimeKind = 'sandbox' | 'virtualMachine';
export type VolumeKind = 'disk' | 'configMap' | 'secret';
export type BackendFeature = 'externalIP' | 'networkPolicy' | 'sshKeys' | 'imagePullSecrets' | 'namedPorts';

export interface BackendCapabilities {
  runtimes: RuntimeKind[];
  volumeKinds: VolumeKind[];
  features: BackendFeature[];
  /** Datum instance types (e.g. `datumcloud/d1-standard-2`) the backend accepts; others are refused. */
  instanceTypes: string[];
  /** Boot images (e.g. `datumcloud/ubuntu-2204-lts`) the VM runtime accepts; undefined = any. */
  images?: string[];
  /**
   * Whether a sandbox Instance's `powerState` is the state of its containers. Unset or false: containers run on
   * a machine the backend cannot see into (e.g. an EC2 host running docker), so `running` means the machine
   * runs, and the Running condition says so instead of claiming the containers run.
   */
  reportsContainerState?: boolean;
  /**
   * Whether the backend can stop an instance and start it again with its disk, addresses and identity kept
   * (`InstanceDesired.suspended`): Datum's Suspend and Resume lifecycle operations (cell generation). Unset:
   * it cannot, and the provider never asks it to.
   */
  suspend?: boolean;
  /** Whether `adoptInstance` exists: an Instance may take over an existing platform instance (adopt annotation). */
  adopt?: boolean;
  /** Whether `observeInstance` exists: the ObserveOnly management policy can report status without writing. */
  observe?: boolean;
  /** Whether `planInstance` exists: `datum-provider plan` can say what an ensure would do. */
  plan?: boolean;
}

/** Who a backend resource belongs to upstream. Written as tags/labels on the platform resource. */
export interface ResourceOwner {
  cluster: string;
  namespace: string;
  kind: 'Instance' | 'NetworkContext' | 'Subnet';
  name: string;
  uid: string;
}

export type Credentials =
  | { source: 'Secret'; data: Readonly<Record<string, string>> }
  | { source: 'InjectedIdentity' };

export interface BackendContext {
  credentials: Credentials;
  /** From the ProviderConfig or the Location mapping. */
  region?: string;
  /** The ProviderConfig's free-form `config` map. */
  config: Readonly<Record<string, string>>;
  location: { namespace: string; name: string; cityCode?: string; topology: Record<string, string> };
  /**
   * The provider installation's identity: tag every resource with it, and let `listManaged` return only
   * resources that carry it (another installation sharing the account must never see ours, nor we theirs).
   */
  installation?: string;
  log: Logger;
  signal: AbortSignal;
}

export interface NetworkDesired {
  id: string;
  owner: ResourceOwner;
  /** IPv4 range of the Network's IPAM (default 10.128.0.0/9). */
  ipv4Cidr: string;
  mtu: number;
}

export interface SubnetDesired {
  id: string;
  owner: ResourceOwner;
  networkId: string;
  /** `startAddress/prefixLength` allocated upstream. */
  cidr: string;
}

export interface PortRule {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  /** Undefined = all ports of the protocol. Named ports are resolved by the reconciler before this point. */
  port?: number;
  endPort?: number;
}

export interface IngressRule {
  ports: PortRule[];
  /** CIDR sources; empty = from anywhere. */
  from: { cidr: string; except?: string[] }[];
}

export interface InterfaceDesired {
  networkId: string;
  subnetId: string;
  ingress: IngressRule[];
}

export interface FileContent {
  path: string;
  /** base64-encoded content */
  data: string;
  mode?: number;
  /** true when the content came from a Secret: the backend must not put it in plain-text metadata. */
  sensitive: boolean;
}

export interface ContainerDesired {
  name: string;
  image: string;
  env: { name: string; value: string; sensitive: boolean }[];
  ports: { name: string; port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }[];
  files: FileContent[];
}

export type RuntimeDesired =
  | { kind: 'sandbox'; containers: ContainerDesired[] }
  | {
      kind: 'virtualMachine';
      /** Datum image name, e.g. `datumcloud/ubuntu-2204-lts`; the backend maps it to a platform image. */
      image: string;
      diskSizeGiB: number;
      ports: { name: string; port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }[];
      files: FileContent[];
    };

export interface InstanceDesired {
  id: string;
  owner: ResourceOwner;
  /** Datum instance type, validated against capabilities. */
  instanceType: string;
  runtime: RuntimeDesired;
  interfaces: InterfaceDesired[];
  /** `user:key` lines from the `compute.datumapis.com/ssh-keys` annotation. */
  sshKeys: { user: string; key: string }[];
  /** Changes whenever the desired state changes; a backend may store it to detect drift cheaply. */
  templateHash: string;
  /**
   * Suspended upstream (cell generation): keep the instance and everything it has, but stopped; false or
   * unset: running. Sent only to backends whose capabilities include `suspend`, and not part of the template.
   */
  suspended?: boolean;
  /** Sizing from Datum's InstanceType catalog (cell generation), for backends that size by resources. */
  resources?: { cpu: string; memory: string };
}

export type PowerState = 'pending' | 'running' | 'stopping' | 'stopped' | 'terminated';

export interface NetworkObserved {
  providerId: string;
  ready: boolean;
}

export interface SubnetObserved {
  providerId: string;
  ready: boolean;
}

export interface InstanceObserved {
  providerId: string;
  /**
   * Whether the platform runs the desired spec (template hash) now. False while a change is still being
   * applied (e.g. an instance being replaced): the provider then reports Programmed=False, never the new
   * template hash against the old machine.
   */
  upToDate: boolean;
  powerState: PowerState;
  /** Index-aligned with `desired.interfaces`. */
  addresses: { networkIP?: string; externalIP?: string }[];
  /**
   * Optional: why the Instance is not running (e.g. `CrashLoopBackOff`, `ImagePullBackOff`) and a one-line
   * message; the Running condition carries them instead of the generic reason for `powerState`.
   */
  reason?: string;
  message?: string;
}

/** What an ensure would do, from `planInstance`: nothing is changed to find out. */
export interface InstancePlan {
  action: 'create' | 'update' | 'none';
  /** One short line per difference (e.g. `instance type: t3.small → t3.medium`); empty for create and none. */
  changes: string[];
}

export interface DeleteResult {
  gone: boolean;
}

export type ManagedKind = 'network' | 'subnet' | 'instance' | 'firewall';

export interface ManagedResource {
  kind: ManagedKind;
  id: string;
  providerId: string;
  owner: ResourceOwner;
}

export interface Backend {
  readonly name: string;
  /**
   * What this backend accepts. Input outside it is refused before any backend call (never ignored).
   * `config` is the serving ProviderConfig's `config` merged over the provider's `backendConfig` (the same map
   * `BackendContext.config` carries): capabilities that depend on it, such as instance types or images added
   * per ProviderConfig, must include them. Without it: the provider-wide capabilities.
   */
  capabilities(config?: Readonly<Record<string, string>>): BackendCapabilities;
  ensureNetwork(ctx: BackendContext, desired: NetworkDesired): Promise<NetworkObserved>;
  deleteNetwork(ctx: BackendContext, id: string): Promise<DeleteResult>;
  ensureSubnet(ctx: BackendContext, desired: SubnetDesired): Promise<SubnetObserved>;
  deleteSubnet(ctx: BackendContext, id: string): Promise<DeleteResult>;
  ensureInstance(ctx: BackendContext, desired: InstanceDesired): Promise<InstanceObserved>;
  deleteInstance(ctx: BackendContext, id: string): Promise<DeleteResult>;
  /** Every resource this provider manages (found by ownership tags), for the orphan sweep. */
  listManaged(ctx: BackendContext): Promise<ManagedResource[]>;
  /**
   * Deletion policy `Retain`: stop managing a resource (and what belongs to it, e.g. an instance's firewall)
   * without touching it: remove the ownership marks, so `listManaged` and an ensure's find-by-marks never see it
   * again (a released instance stays adoptable by its platform id, like any unmarked one: the contract suite
   * adopts one back). Returns the platform ids it released (empty when nothing with that id exists).
   */
  release(
    ctx: BackendContext,
    kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }>;
  /**
   * Adopt annotation: make the existing platform instance `providerId` the one that implements `desired.id`
   * by writing our ownership marks on it; the next `ensureInstance` converges it (or says what it cannot).
   * Idempotent; throws `AdoptionConflict` when it carries another installation's or another object's marks
   * (never steal), `NotFound` when it does not exist. Optional: see `BackendCapabilities.adopt`.
   */
  adoptInstance?(
    ctx: BackendContext,
    providerId: string,
    desired: InstanceDesired,
  ): Promise<{ providerId: string }>;
  /**
   * ObserveOnly: the instance as it is, read-only (no create, change or delete, not even a start): the one
   * carrying our marks for `ref.id`, or the platform instance `ref.providerId` when given. Undefined when none
   * exists. `upToDate` is false. Optional: see `BackendCapabilities.observe`.
   */
  observeInstance?(
    ctx: BackendContext,
    ref: { id: string; providerId?: string },
  ): Promise<InstanceObserved | undefined>;
  /** What `ensureInstance(desired)` would do, read-only. Optional: see `BackendCapabilities.plan`. */
  planInstance?(ctx: BackendContext, desired: InstanceDesired): Promise<InstancePlan>;
  /** Called once at shutdown. */
  close?(): Promise<void>;
}

/** Reasons a backend failure carries; they become condition reasons upstream. */
export type BackendErrorReason =
  | 'Throttled'
  | 'QuotaExceeded'
  | 'InvalidConfiguration'
  | 'Unsupported'
  | 'CredentialsInvalid'
  | 'DependencyNotReady'
  | 'NotFound'
  | 'Transient'
  /** Adoption refused: the platform resource carries another installation's or another object's marks. */
  | 'AdoptionConflict';

export class BackendError extends Error {
  override readonly name = 'BackendError';
  readonly reason: BackendErrorReason;
  readonly retryable: boolean;
  /** Hint for the next attempt, e.g. from a throttling response. */
  readonly retryAfterMs?: number;
  constructor(
    reason: BackendErrorReason,
    message: string,
    opts: { retryable?: boolean; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.reason = reason;
    this.retryable =
      opts.retryable ?? (reason === 'Throttled' || reason === 'Transient' || reason === 'DependencyNotReady');
    this.retryAfterMs = opts.retryAfterMs;
  }
}
