/**
 * The Google Cloud (Compute Engine) backend: Datum networks → custom-mode VPC networks, subnets →
 * subnetworks, instances → firewall rules + VM instances (VM runtime: an image from the image map; sandbox:
 * Container-Optimized OS running the containers). See docs/gcp.md for settings, IAM and behaviour.
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
  SubnetDesired,
  SubnetObserved,
} from '../../datum/backend.ts';
import * as controls from './adopt.ts';
import * as instances from './instance.ts';
import { listManaged, release } from './list.ts';
import * as networks from './network.ts';
import { SecretManagerDelivery } from './secretmanager.ts';
import { ClientCache, GcpSession } from './session.ts';
import { type GcpBackendOptions, resolveSettings } from './settings.ts';
import type { SecretDelivery } from './startup.ts';

const SECRET_MANAGER = new SecretManagerDelivery();

export const DEFAULT_MANAGED_BY = 'datum-provider-ts';

export class GcpBackend implements Backend {
  readonly name = 'gcp';
  private readonly options: GcpBackendOptions;
  private readonly clients = new ClientCache();
  private readonly delivery: SecretDelivery | undefined;

  constructor(options: GcpBackendOptions = {}, delivery?: SecretDelivery) {
    this.options = options;
    this.delivery = delivery;
    resolveSettings(options, {}, undefined); // fail at start-up on bad settings
  }

  capabilities(config: Readonly<Record<string, string>> = {}): BackendCapabilities {
    const s = resolveSettings(this.options, config, undefined);
    return {
      runtimes: ['sandbox', 'virtualMachine'],
      volumeKinds: ['disk', 'configMap', 'secret'],
      features: [
        ...(s.assignExternalIp ? (['externalIP'] as const) : []),
        'networkPolicy',
        'sshKeys',
        'namedPorts',
      ],
      instanceTypes: Object.keys(s.instanceTypes).sort(),
      images: Object.keys(s.images).sort(),
      // Containers run under docker on a COS machine: the power state is the machine's.
      reportsContainerState: false,
      adopt: true,
      observe: true,
      plan: true,
    };
  }

  /** Calls per API operation since construction (measurements, tests). */
  get calls(): ReadonlyMap<string, number> {
    return this.clients.calls;
  }

  private session(ctx: BackendContext): GcpSession {
    const managedBy = this.options.managedBy ?? ctx.installation ?? DEFAULT_MANAGED_BY;
    return new GcpSession(
      ctx,
      resolveSettings(this.options, ctx.config, ctx.region),
      managedBy,
      this.clients,
    );
  }

  async ensureNetwork(ctx: BackendContext, d: NetworkDesired): Promise<NetworkObserved> {
    return networks.ensureNetwork(this.session(ctx), d);
  }
  async deleteNetwork(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return networks.deleteNetwork(this.session(ctx), id);
  }
  async ensureSubnet(ctx: BackendContext, d: SubnetDesired): Promise<SubnetObserved> {
    return networks.ensureSubnet(this.session(ctx), d);
  }
  async deleteSubnet(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return networks.deleteSubnet(this.session(ctx), id);
  }
  /** The configured delivery, else Secret Manager when `secretManager` is on, else none (refused). */
  private deliveryFor(s: GcpSession): SecretDelivery | undefined {
    return this.delivery ?? (s.settings.secretManager ? SECRET_MANAGER : undefined);
  }

  async ensureInstance(ctx: BackendContext, d: InstanceDesired): Promise<InstanceObserved> {
    const s = this.session(ctx);
    return instances.ensureInstance(s, this.deliveryFor(s), d);
  }
  async deleteInstance(ctx: BackendContext, id: string): Promise<DeleteResult> {
    const s = this.session(ctx);
    return instances.deleteInstance(s, this.deliveryFor(s), id);
  }
  async listManaged(ctx: BackendContext): Promise<ManagedResource[]> {
    return listManaged(this.session(ctx));
  }
  async release(
    ctx: BackendContext,
    kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }> {
    return release(this.session(ctx), kind, id);
  }
  async adoptInstance(
    ctx: BackendContext,
    providerId: string,
    d: InstanceDesired,
  ): Promise<{ providerId: string }> {
    return controls.adoptInstance(this.session(ctx), providerId, d);
  }
  async observeInstance(
    ctx: BackendContext,
    ref: { id: string; providerId?: string },
  ): Promise<InstanceObserved | undefined> {
    return controls.observeInstance(this.session(ctx), ref);
  }
  async planInstance(ctx: BackendContext, d: InstanceDesired): Promise<InstancePlan> {
    const s = this.session(ctx);
    return controls.planInstance(s, this.deliveryFor(s), d);
  }
  async close(): Promise<void> {
    await this.clients.destroy();
  }
}
