/**
 * The in-memory backend: the reference implementation of `Backend`, read it first when writing your own.
 * It behaves like a small cloud: resources take time to start and stop (asynchronous state transitions),
 * subnets refuse to go while instances use them, and every call can be slowed down or made to fail
 * (errors, throttling, "lost responses" where the call succeeds but the caller never hears it). With
 * `stateFile` its state survives a process crash, for crash-safety tests. Values marked `sensitive` (from
 * Secrets) are kept only as salted digests, in memory and in that file: enough to see that they changed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import {
  type Backend,
  type BackendCapabilities,
  type BackendContext,
  BackendError,
  type DeleteResult,
  type FileContent,
  type InstanceDesired,
  type InstanceObserved,
  type InstancePlan,
  type ManagedResource,
  type NetworkDesired,
  type NetworkObserved,
  type PowerState,
  type ResourceOwner,
  type RuntimeDesired,
  type SubnetDesired,
  type SubnetObserved,
} from '../../datum/backend.ts';
import { diffInstanceDesired } from '../common/instance-diff.ts';
import {
  DEFAULT_CAPABILITIES,
  type Fault,
  type InMemoryOptions,
  mapKeys,
  type Operation,
  type State,
  type StoredInstance,
  type StoredNetwork,
  type StoredSubnet,
  writeAtomically,
} from './state.ts';

export { DEFAULT_CAPABILITIES, type Fault, type InMemoryOptions, type Operation } from './state.ts';

export class InMemoryBackend implements Backend {
  readonly name: string = 'inmemory';
  readonly calls: { op: Operation; id?: string; at: number }[] = [];
  /** Resources released with deletion policy Retain (they would keep running on a real platform). */
  readonly retained: { kind: string; id: string; providerId: string }[] = [];
  private readonly opts: InMemoryOptions;
  private state: State = { seq: 0, networks: {}, subnets: {}, instances: {} };
  private faults: (Fault & { left: number })[] = [];

  constructor(opts: InMemoryOptions = {}) {
    this.opts = opts;
    const file = opts.stateFile ?? opts.snapshotFile;
    if (file && existsSync(file)) this.state = JSON.parse(readFileSync(file, 'utf8'));
  }

  async close(): Promise<void> {
    if (this.opts.snapshotFile) writeAtomically(this.opts.snapshotFile, JSON.stringify(this.state));
  }

  /** ProviderConfig `config` keys `instanceTypes` and `images` add to the lists, as on AWS. */
  capabilities(config: Readonly<Record<string, string>> = {}): BackendCapabilities {
    const caps = { ...DEFAULT_CAPABILITIES, ...this.opts.capabilities };
    const types = mapKeys(config.instanceTypes);
    const images = mapKeys(config.images);
    if (types.length) caps.instanceTypes = [...new Set([...caps.instanceTypes, ...types])];
    if (images.length && caps.images) caps.images = [...new Set([...caps.images, ...images])];
    return caps;
  }

  injectFault(f: Fault): void {
    this.faults.push({ ...f, left: f.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  // ---- networks ----
  async ensureNetwork(_ctx: BackendContext, d: NetworkDesired): Promise<NetworkObserved> {
    return this.call('ensureNetwork', d.id, () => {
      this.state.networks[d.id] ??= {
        id: d.id,
        providerId: this.newId('vpc'),
        owner: d.owner,
        createdAt: Date.now(),
        desired: d,
      };
      const n = this.state.networks[d.id]!;
      n.desired = d;
      return { providerId: n.providerId, ready: true };
    });
  }

  async deleteNetwork(_ctx: BackendContext, id: string): Promise<DeleteResult> {
    return this.call('deleteNetwork', id, () => {
      if (!this.state.networks[id]) return { gone: true };
      if (Object.values(this.state.subnets).some((s) => s.desired.networkId === id)) return { gone: false };
      delete this.state.networks[id];
      return { gone: true };
    });
  }

  // ---- subnets ----
  async ensureSubnet(_ctx: BackendContext, d: SubnetDesired): Promise<SubnetObserved> {
    return this.call('ensureSubnet', d.id, () => {
      if (!this.state.networks[d.networkId])
        throw new BackendError('DependencyNotReady', `network ${d.networkId} does not exist yet`);
      this.state.subnets[d.id] ??= {
        id: d.id,
        providerId: this.newId('subnet'),
        owner: d.owner,
        createdAt: Date.now(),
        desired: d,
      };
      const s = this.state.subnets[d.id]!;
      s.desired = d;
      return { providerId: s.providerId, ready: true };
    });
  }

  async deleteSubnet(_ctx: BackendContext, id: string): Promise<DeleteResult> {
    return this.call('deleteSubnet', id, () => {
      if (!this.state.subnets[id]) return { gone: true };
      const inUse = Object.values(this.state.instances).some((i) =>
        i.desired.interfaces.some((n) => n.subnetId === id),
      );
      if (inUse) return { gone: false };
      delete this.state.subnets[id];
      if (this.state.nextHost) delete this.state.nextHost[id];
      return { gone: true };
    });
  }

  // ---- instances ----
  async ensureInstance(ctx: BackendContext, d: InstanceDesired): Promise<InstanceObserved> {
    return this.call('ensureInstance', d.id, () => {
      const caps = this.capabilities(ctx.config);
      if (!caps.instanceTypes.includes(d.instanceType))
        throw new BackendError('Unsupported', `instance type ${d.instanceType} is not offered`);
      for (const nic of d.interfaces) {
        if (!this.state.subnets[nic.subnetId])
          throw new BackendError('DependencyNotReady', `subnet ${nic.subnetId} does not exist yet`);
      }
      // Suspension is a power state, not part of the desired template.
      const { suspended, ...template } = d;
      const sealed = this.seal(template);
      let inst = this.state.instances[d.id];
      if (!inst) {
        inst = {
          id: d.id,
          providerId: this.newId('i'),
          owner: d.owner,
          createdAt: Date.now(),
          desired: sealed,
          addresses: [],
          revision: 1,
        };
        inst.addresses = d.interfaces.map((nic, i) => ({
          networkIP: this.allocateIP(nic.subnetId),
          externalIP: i === 0 ? `203.0.113.${(this.state.seq % 250) + 1}` : undefined,
        }));
        this.state.instances[d.id] = inst;
      }
      // Converge: a new template replaces the desired state in place (a real cloud may need a replace).
      if (JSON.stringify(inst.desired) !== JSON.stringify(sealed)) inst.revision = (inst.revision ?? 1) + 1;
      inst.desired = sealed;
      if (suspended) inst.stoppedAt ??= Date.now();
      else if (inst.stoppedAt !== undefined) {
        inst.stoppedAt = undefined;
        inst.startedAt = Date.now();
      }
      return {
        providerId: inst.providerId,
        upToDate: true,
        powerState: this.powerState(inst),
        addresses: inst.addresses,
      };
    });
  }

  async deleteInstance(_ctx: BackendContext, id: string): Promise<DeleteResult> {
    return this.call('deleteInstance', id, () => {
      const inst = this.state.instances[id];
      if (!inst) return { gone: true };
      inst.deletingAt ??= Date.now();
      if (Date.now() - inst.deletingAt >= (this.opts.stoppingMs ?? 0)) {
        delete this.state.instances[id];
        return { gone: true };
      }
      return { gone: false };
    });
  }

  /** Takes an unmanaged instance over (unless someone else's marks are on it); the next ensure converges it. */
  async adoptInstance(
    ctx: BackendContext,
    providerId: string,
    d: InstanceDesired,
  ): Promise<{ providerId: string }> {
    return this.call('adoptInstance', d.id, () => {
      const managed = Object.values(this.state.instances).find((i) => i.providerId === providerId);
      if (managed) {
        if (managed.id === d.id && managed.owner.uid === d.owner.uid) return { providerId };
        throw new BackendError(
          'AdoptionConflict',
          `${providerId} is managed for ${managed.owner.kind} ${managed.owner.namespace}/${managed.owner.name}: not adopting it`,
        );
      }
      const mine = this.state.instances[d.id];
      if (mine)
        throw new BackendError(
          'InvalidConfiguration',
          `this Instance already runs as ${mine.providerId}; adopting ${providerId} too would leave one unmanaged`,
        );
      const found = this.state.unmanaged?.[providerId];
      if (!found) throw new BackendError('NotFound', `no instance ${providerId} to adopt`);
      if (found.owner || (found.installation && found.installation !== ctx.installation))
        throw new BackendError(
          'AdoptionConflict',
          `${providerId} carries the ownership marks of ${found.owner ? `${found.owner.kind} ${found.owner.namespace}/${found.owner.name}` : `installation ${found.installation}`}: not adopting it`,
        );
      delete this.state.unmanaged![providerId];
      this.state.instances[d.id] = {
        id: d.id,
        providerId,
        owner: d.owner,
        createdAt: found.createdAt,
        // Unknown until the next ensure writes the desired state over it (a new revision).
        desired: { ...d, runtime: { kind: 'sandbox', containers: [] }, interfaces: [], templateHash: '' },
        addresses: [],
        revision: 1,
      };
      return { providerId };
    });
  }

  /** Read-only: the managed instance of `id`, or any instance with `providerId`. */
  async observeInstance(
    _ctx: BackendContext,
    ref: { id: string; providerId?: string },
  ): Promise<InstanceObserved | undefined> {
    return this.call('observeInstance', ref.id, () => {
      const all = Object.values(this.state.instances);
      const inst = ref.providerId
        ? all.find((i) => i.providerId === ref.providerId)
        : this.state.instances[ref.id];
      if (inst)
        return {
          providerId: inst.providerId,
          upToDate: false,
          powerState: this.powerState(inst),
          addresses: inst.addresses,
        };
      const other = ref.providerId ? this.state.unmanaged?.[ref.providerId] : undefined;
      return other
        ? { providerId: other.providerId, upToDate: false, powerState: 'running' as const, addresses: [] }
        : undefined;
    });
  }

  /** Read-only: what ensureInstance(d) would change. */
  async planInstance(_ctx: BackendContext, d: InstanceDesired): Promise<InstancePlan> {
    return this.call('planInstance', d.id, () => {
      const inst = this.state.instances[d.id];
      if (!inst) return { action: 'create' as const, changes: [] };
      const { suspended, ...template } = d;
      const changes = diffInstanceDesired(
        { ...inst.desired, suspended: inst.stoppedAt !== undefined },
        { ...this.peekSeal(template), suspended },
      );
      return { action: changes.length ? ('update' as const) : ('none' as const), changes };
    });
  }

  /** Retain: the resource leaves this backend's books; an instance stays on the "platform", unmarked. */
  async release(
    _ctx: BackendContext,
    kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }> {
    return this.call('release', id, () => {
      const book =
        kind === 'instance'
          ? this.state.instances
          : kind === 'subnet'
            ? this.state.subnets
            : this.state.networks;
      const r = book[id];
      if (!r) return { released: [] };
      delete book[id];
      // A released instance keeps running without our marks: adoption and observe can still find it.
      if (kind === 'instance') {
        this.state.unmanaged ??= {};
        this.state.unmanaged[r.providerId] = { providerId: r.providerId, createdAt: r.createdAt };
      }
      this.retained.push({ kind, id, providerId: r.providerId });
      return { released: [r.providerId] };
    });
  }

  async listManaged(_ctx: BackendContext): Promise<ManagedResource[]> {
    return this.call('listManaged', undefined, () => [
      ...Object.values(this.state.instances).map((r) => ({
        kind: 'instance' as const,
        id: r.id,
        providerId: r.providerId,
        owner: r.owner,
      })),
      ...Object.values(this.state.subnets).map((r) => ({
        kind: 'subnet' as const,
        id: r.id,
        providerId: r.providerId,
        owner: r.owner,
      })),
      ...Object.values(this.state.networks).map((r) => ({
        kind: 'network' as const,
        id: r.id,
        providerId: r.providerId,
        owner: r.owner,
      })),
    ]);
  }

  // ---- inspection for tests ----
  snapshot(): { networks: StoredNetwork[]; subnets: StoredSubnet[]; instances: StoredInstance[] } {
    this.reload();
    return {
      networks: Object.values(this.state.networks),
      subnets: Object.values(this.state.subnets),
      instances: Object.values(this.state.instances),
    };
  }

  /** The power state an ensure would report now (tests: suspend and resume). */
  powerStateOf(id: string): PowerState | undefined {
    this.reload();
    const inst = this.state.instances[id];
    return inst ? this.powerState(inst) : undefined;
  }

  /** Plants a resource nobody upstream owns, for sweeper tests. */
  plantOrphan(owner: ResourceOwner, id = `inst-orphan-${Date.now()}`): string {
    this.state.instances[id] = {
      id,
      providerId: this.newId('i'),
      owner,
      createdAt: Date.now(),
      addresses: [],
      revision: 1,
      desired: {
        id,
        owner,
        instanceType: 'datumcloud/d1-standard-2',
        runtime: { kind: 'sandbox', containers: [] },
        interfaces: [],
        sshKeys: [],
        templateHash: '',
      },
    };
    this.persist();
    return id;
  }

  /** Plants an instance nobody here manages (adoption tests), with another object's or installation's marks. */
  plantUnmanaged(marks: { owner?: ResourceOwner; installation?: string } = {}): string {
    this.reload();
    const providerId = this.newId('i');
    this.state.unmanaged ??= {};
    this.state.unmanaged[providerId] = { providerId, ...marks, createdAt: Date.now() };
    this.persist();
    return providerId;
  }

  /** `seal` without creating the salt (a read-only call must not write state). */
  private peekSeal(d: InstanceDesired): InstanceDesired {
    return this.state.salt ? this.seal(d) : d;
  }

  /** A copy of `d` in which secret values are digests: a state file must not become a copy of the Secrets. */
  private seal(d: InstanceDesired): InstanceDesired {
    this.state.salt ??= randomBytes(16).toString('hex');
    const digest = (v: string) =>
      `sha256:${createHash('sha256').update(`${this.state.salt}\0${v}`).digest('hex')}`;
    const files = (fs: FileContent[]) => fs.map((f) => (f.sensitive ? { ...f, data: digest(f.data) } : f));
    const r = d.runtime;
    const runtime: RuntimeDesired =
      r.kind === 'sandbox'
        ? {
            ...r,
            containers: r.containers.map((c) => ({
              ...c,
              env: c.env.map((e) => (e.sensitive ? { ...e, value: digest(e.value) } : e)),
              files: files(c.files),
            })),
          }
        : { ...r, files: files(r.files) };
    return { ...d, runtime };
  }

  private powerState(inst: StoredInstance): PowerState {
    if (inst.deletingAt) return 'stopping';
    if (inst.stoppedAt !== undefined)
      return Date.now() - inst.stoppedAt < (this.opts.stoppingMs ?? 0) ? 'stopping' : 'stopped';
    const since = inst.startedAt ?? inst.createdAt;
    return Date.now() - since < (this.opts.pendingMs ?? 0) ? 'pending' : 'running';
  }

  /** O(1) amortized: a per-subnet counter, seeded by one scan when a (reloaded, older) state has none. */
  private allocateIP(subnetId: string): string | undefined {
    const cidr = this.state.subnets[subnetId]?.desired.cidr;
    if (!cidr) return undefined;
    const [base] = cidr.split('/');
    const parts = base!.split('.').map(Number);
    this.state.nextHost ??= {};
    const next = this.state.nextHost;
    next[subnetId] ??= Object.values(this.state.instances).filter((i) =>
      i.desired.interfaces.some((n) => n.subnetId === subnetId),
    ).length;
    const used = next[subnetId]++;
    const host = (parts[3] ?? 0) + 2 + used; // .0 network, .1 gateway
    return `${parts[0]}.${parts[1]}.${(parts[2] ?? 0) + Math.floor(host / 256)}.${host % 256}`;
  }

  private newId(prefix: string): string {
    this.state.seq++;
    return `${prefix}-${this.state.seq.toString(16).padStart(8, '0')}`;
  }

  private async call<T>(op: Operation, id: string | undefined, work: () => T): Promise<T> {
    this.calls.push({ op, id, at: Date.now() });
    if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
    this.reload();
    const fault = this.faults.find((f) => f.op === op && f.left > 0);
    if (fault) fault.left--;
    if (fault?.mode === 'throttle')
      throw new BackendError('Throttled', fault.message ?? 'request rate exceeded', { retryAfterMs: 200 });
    if (fault?.mode === 'error')
      throw new BackendError(fault.reason ?? 'Transient', fault.message ?? `injected ${op} failure`);
    const result = work();
    // Read-only calls never write the state file (another process, e.g. `plan`, may share it).
    if (op !== 'observeInstance' && op !== 'planInstance') this.persist();
    if (fault?.mode === 'lostResponse')
      throw new BackendError('Transient', `connection reset after ${op} (response lost)`);
    return result;
  }

  private reload(): void {
    if (this.opts.stateFile && existsSync(this.opts.stateFile))
      this.state = JSON.parse(readFileSync(this.opts.stateFile, 'utf8'));
  }

  private persist(): void {
    if (this.opts.stateFile) writeAtomically(this.opts.stateFile, JSON.stringify(this.state));
  }
}
