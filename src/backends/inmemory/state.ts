/** The in-memory backend's options, fault plans, stored records and the shape of its state file. */
import { renameSync, writeFileSync } from 'node:fs';
import {
  type BackendCapabilities,
  BackendError,
  type BackendErrorReason,
  type InstanceDesired,
  type NetworkDesired,
  type ResourceOwner,
  type SubnetDesired,
} from '../../datum/backend.ts';

export type Operation =
  | 'ensureNetwork'
  | 'deleteNetwork'
  | 'ensureSubnet'
  | 'deleteSubnet'
  | 'ensureInstance'
  | 'deleteInstance'
  | 'listManaged'
  | 'release'
  | 'adoptInstance'
  | 'observeInstance'
  | 'planInstance';

export interface Fault {
  op: Operation;
  /** error: fails before doing anything; throttle: like error with reason Throttled; lostResponse: does the work, then fails. */
  mode: 'error' | 'throttle' | 'lostResponse';
  reason?: BackendErrorReason;
  message?: string;
  /** How many calls it affects (default 1). */
  times?: number;
}

export interface InMemoryOptions {
  latencyMs?: number;
  /** How long an instance stays `pending` after creation, and `stopping` after deletion starts. */
  pendingMs?: number;
  stoppingMs?: number;
  stateFile?: string;
  /**
   * Loaded at start and written once at close (not on every call like `stateFile`): the platform outlives a
   * graceful restart of the provider, as a real one does, at no per-call cost (benchmarks).
   */
  snapshotFile?: string;
  capabilities?: Partial<BackendCapabilities>;
}

export interface Stored {
  id: string;
  providerId: string;
  owner: ResourceOwner;
  createdAt: number;
  deletingAt?: number;
}
export interface StoredNetwork extends Stored {
  desired: NetworkDesired;
}
export interface StoredSubnet extends Stored {
  desired: SubnetDesired;
}
export interface StoredInstance extends Stored {
  /** As given, except sensitive env values and file contents, which are `sha256:<hex>` digests. */
  desired: InstanceDesired;
  addresses: { networkIP?: string; externalIP?: string }[];
  /** 1 at creation, +1 whenever the desired state changes (a sensitive value included). */
  revision: number;
  /** When a suspend stopped it (undefined: running), and when it was last started (resumed). */
  stoppedAt?: number;
  startedAt?: number;
}

/** A platform instance this backend does not manage (adopt and observe tests): maybe someone else's. */
export interface Unmanaged {
  providerId: string;
  /** Ownership marks of another object or installation, if any. */
  owner?: ResourceOwner;
  installation?: string;
  createdAt: number;
}

export interface State {
  seq: number;
  /** Salts the digests of sensitive values, so equal secrets in two state files do not look equal. */
  salt?: string;
  networks: Record<string, StoredNetwork>;
  subnets: Record<string, StoredSubnet>;
  instances: Record<string, StoredInstance>;
  /** By provider id. */
  unmanaged?: Record<string, Unmanaged>;
  /** Per subnet, the next host offset to hand out (counted once from `instances` when missing). */
  nextHost?: Record<string, number>;
}

export const DEFAULT_CAPABILITIES: BackendCapabilities = {
  runtimes: ['sandbox', 'virtualMachine'],
  volumeKinds: ['disk', 'configMap', 'secret'],
  features: ['externalIP', 'networkPolicy', 'sshKeys', 'namedPorts'],
  instanceTypes: ['datumcloud/d1-standard-2'],
  images: ['datumcloud/ubuntu-2204-lts'],
  // The simulated instance is the workload itself: its state is all there is to report.
  reportsContainerState: true,
  suspend: true,
  adopt: true,
  observe: true,
  plan: true,
};

/** Keys of a config map value: `a=x,b=y` / one per line, or a JSON object (the AWS backend's format). */
export function mapKeys(text: string | undefined): string[] {
  const t = (text ?? '').trim();
  if (!t) return [];
  if (t.startsWith('{')) {
    try {
      return Object.keys(JSON.parse(t) as object);
    } catch {
      throw new BackendError('InvalidConfiguration', 'config map value is not valid JSON');
    }
  }
  return t
    .split(/[,\n]/)
    .map((part) => part.split('=')[0]!.trim())
    .filter(Boolean);
}

export function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}
