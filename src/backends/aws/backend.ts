/**
 * The AWS EC2 backend: Datum networks → VPCs, subnets → subnets, instances → security groups + EC2
 * instances (VM runtime: an AMI from the image map; sandbox: a container host running docker). See
 * docs/aws.md for settings, IAM policy and behaviour.
 */
import type {
  Backend,
  BackendCapabilities,
  BackendContext,
  BackendFeature,
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
import * as controls from './adopt-instance.ts';
import { type AwsSession, ClientCache } from './clients.ts';
import * as instances from './instance.ts';
import { listManaged } from './list.ts';
import * as networks from './network.ts';
import { releaseResources } from './release.ts';
import { SecretStore } from './secrets.ts';
import { type AwsBackendOptions, resolveSettings } from './settings.ts';
import * as subnets from './subnet.ts';

export const DEFAULT_MANAGED_BY = 'datum-provider-ts';

export class AwsBackend implements Backend {
  readonly name = 'aws';
  private readonly options: AwsBackendOptions;
  /** An explicit `managedBy` option wins; else the installation identity the contract passes in. */
  private readonly managedBy: string | undefined;
  private readonly clients = new ClientCache();
  private readonly secrets = new SecretStore();

  constructor(options: AwsBackendOptions = {}) {
    this.options = options;
    this.managedBy = options.managedBy;
    // Fail at start-up on a bad image ref or region rather than on the first reconcile.
    resolveSettings(options, {}, undefined);
  }

  /** With the ProviderConfig's `config`: its `images` / `instanceTypes` maps count, as they do at launch. */
  capabilities(config: Readonly<Record<string, string>> = {}): BackendCapabilities {
    const s = resolveSettings(this.options, config, undefined);
    const features: BackendFeature[] = ['networkPolicy', 'sshKeys', 'namedPorts'];
    if (s.assignPublicIp) features.unshift('externalIP');
    return {
      runtimes: ['sandbox', 'virtualMachine'],
      volumeKinds: ['disk', 'configMap', 'secret'],
      features,
      instanceTypes: Object.keys(s.instanceTypes).sort(),
      images: Object.keys(s.images).sort(),
      // Sandboxes are docker containers on an EC2 host: the power state is the host's, not the containers'.
      reportsContainerState: false,
      // StopInstances/StartInstances keep the EBS root volume and the network interfaces.
      suspend: true,
      adopt: true,
      observe: true,
      plan: true,
    };
  }

  /** Calls per AWS operation since construction (measurements, tests). */
  get calls(): ReadonlyMap<string, number> {
    return this.clients.calls;
  }

  private session(ctx: BackendContext): AwsSession {
    const managedBy = this.managedBy ?? ctx.installation ?? DEFAULT_MANAGED_BY;
    return this.clients.session(ctx, resolveSettings(this.options, ctx.config, ctx.region), managedBy);
  }

  async ensureNetwork(ctx: BackendContext, desired: NetworkDesired): Promise<NetworkObserved> {
    return networks.ensureNetwork(this.session(ctx), desired);
  }

  async deleteNetwork(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return networks.deleteNetwork(this.session(ctx), id);
  }

  async ensureSubnet(ctx: BackendContext, desired: SubnetDesired): Promise<SubnetObserved> {
    return subnets.ensureSubnet(this.session(ctx), desired);
  }

  async deleteSubnet(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return subnets.deleteSubnet(this.session(ctx), id);
  }

  async ensureInstance(ctx: BackendContext, desired: InstanceDesired): Promise<InstanceObserved> {
    return instances.ensureInstance(this.session(ctx), this.secrets, desired);
  }

  async deleteInstance(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return instances.deleteInstance(this.session(ctx), this.secrets, id);
  }

  async adoptInstance(
    ctx: BackendContext,
    providerId: string,
    desired: InstanceDesired,
  ): Promise<{ providerId: string }> {
    return controls.adoptInstance(this.session(ctx), providerId, desired);
  }

  async observeInstance(
    ctx: BackendContext,
    ref: { id: string; providerId?: string },
  ): Promise<InstanceObserved | undefined> {
    return controls.observeInstance(this.session(ctx), ref);
  }

  async planInstance(ctx: BackendContext, desired: InstanceDesired): Promise<InstancePlan> {
    return controls.planInstance(this.session(ctx), desired);
  }

  async listManaged(ctx: BackendContext): Promise<ManagedResource[]> {
    return listManaged(this.session(ctx));
  }

  async release(
    ctx: BackendContext,
    kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }> {
    return releaseResources(this.session(ctx), this.secrets, kind, id);
  }

  async close(): Promise<void> {
    this.clients.destroy();
  }
}
