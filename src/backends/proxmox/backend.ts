/**
 * The Proxmox VE backend: networks → VLAN tags on a Linux bridge (recorded in cluster IPSets), subnets →
 * IPSet entries, instances → VMs cloned from templates (VM runtime) or LXC containers (sandbox runtime, when
 * configured), each with its own firewall; existing guests can be adopted, observed and planned (adopt.ts). See docs/proxmox.md for settings, the token's role and behaviour.
 */
import type {
  Backend,
  BackendCapabilities,
  BackendContext,
  DeleteResult,
  InstanceDesired,
  InstanceObserved,
  InstancePlan,
  ManagedResource,
  NetworkDesired,
  NetworkObserved,
  RuntimeKind,
  SubnetDesired,
  SubnetObserved,
} from '../../datum/backend.ts';
import * as operator from './adopt.ts';
import * as instances from './instance.ts';
import * as list from './list.ts';
import * as networks from './network.ts';
import { ClientCache, type Session } from './session.ts';
import { resolveSettings } from './settings.ts';

export const DEFAULT_MANAGED_BY = 'datum-provider-ts';

export interface ProxmoxBackendOptions {
  /** Provider-wide config keys (the ProviderConfig's `config` map is merged over them by the provider). */
  managedBy?: string;
  /** Operator-level config keys (the CLI's `backendConfig`); a ProviderConfig's `config` map wins over them. */
  config?: Record<string, string>;
}

export class ProxmoxBackend implements Backend {
  readonly name = 'proxmox';
  private readonly clients = new ClientCache();
  private readonly managedBy: string | undefined;
  private readonly baseConfig: Record<string, string>;

  constructor(options: ProxmoxBackendOptions = {}) {
    this.managedBy = options.managedBy ?? options.config?.managedBy;
    this.baseConfig = options.config ?? {};
    // Fail at start-up on a bad map rather than on the first reconcile.
    resolveSettings(this.baseConfig);
  }

  capabilities(config: Readonly<Record<string, string>> = {}): BackendCapabilities {
    const s = resolveSettings({ ...this.baseConfig, ...config });
    const runtimes: RuntimeKind[] = ['virtualMachine'];
    if (Object.keys(s.containerImages).length > 0) runtimes.unshift('sandbox');
    return {
      runtimes,
      volumeKinds: ['disk'],
      features: ['networkPolicy', 'sshKeys', 'namedPorts'],
      instanceTypes: Object.keys(s.instanceTypes).sort(),
      images: Object.keys(s.images).sort(),
      // An LXC container's state is the container's own.
      reportsContainerState: true,
      adopt: true,
      observe: true,
      plan: true,
    };
  }

  /** Requests per `METHOD path` since construction (measurements, tests). */
  get calls(): ReadonlyMap<string, number> {
    return this.clients.calls;
  }

  private session(ctx: BackendContext): Session {
    const config = { ...this.baseConfig, ...ctx.config };
    return this.clients.session({ ...ctx, config }, this.managedBy ?? ctx.installation ?? DEFAULT_MANAGED_BY);
  }

  ensureNetwork(ctx: BackendContext, desired: NetworkDesired): Promise<NetworkObserved> {
    return networks.ensureNetwork(this.session(ctx), desired);
  }
  deleteNetwork(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return networks.deleteNetwork(this.session(ctx), id);
  }
  ensureSubnet(ctx: BackendContext, desired: SubnetDesired): Promise<SubnetObserved> {
    return networks.ensureSubnet(this.session(ctx), desired);
  }
  deleteSubnet(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return networks.deleteSubnet(this.session(ctx), id);
  }
  ensureInstance(ctx: BackendContext, desired: InstanceDesired): Promise<InstanceObserved> {
    return instances.ensureInstance(this.session(ctx), desired);
  }
  deleteInstance(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return instances.deleteInstance(this.session(ctx), id);
  }
  listManaged(ctx: BackendContext): Promise<ManagedResource[]> {
    return list.listManaged(this.session(ctx));
  }
  release(
    ctx: BackendContext,
    kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }> {
    return list.release(this.session(ctx), kind, id);
  }
  adoptInstance(
    ctx: BackendContext,
    providerId: string,
    desired: InstanceDesired,
  ): Promise<{ providerId: string }> {
    return operator.adoptInstance(this.session(ctx), providerId, desired);
  }
  observeInstance(
    ctx: BackendContext,
    ref: { id: string; providerId?: string },
  ): Promise<InstanceObserved | undefined> {
    return operator.observeInstance(this.session(ctx), ref);
  }
  planInstance(ctx: BackendContext, desired: InstanceDesired): Promise<InstancePlan> {
    return operator.planInstance(this.session(ctx), desired);
  }
  async close(): Promise<void> {
    this.clients.clear();
  }
}
