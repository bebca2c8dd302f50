/**
 * The Kubernetes backend: a downstream cluster (an edge site, a GPU cluster, an IoT fleet) as Datum Locations.
 * Datum networks → labelled records and NetworkPolicies, sandbox Instances → Pods, VM Instances → KubeVirt
 * VirtualMachines, each project in its own namespace. It never touches the Datum project cluster: its only
 * client is the downstream one built from the ProviderConfig's kubeconfig. See docs/kubernetes.md.
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
import * as adoption from './adopt.ts';
import * as controls from './controls.ts';
import * as instances from './instance.ts';
import { labelValue } from './labels.ts';
import { listManaged, release } from './list.ts';
import * as networks from './network.ts';
import { ClientCache, type Session } from './session.ts';
import { type KubernetesBackendOptions, resolveSettings } from './settings.ts';

export const DEFAULT_MANAGED_BY = 'datum-provider-ts';

export class KubernetesBackend implements Backend {
  readonly name = 'kubernetes';
  private readonly options: KubernetesBackendOptions;
  private readonly clients = new ClientCache();

  constructor(options: KubernetesBackendOptions = {}) {
    this.options = options;
    // Fail at start-up on a bad map rather than on the first reconcile.
    resolveSettings(options, {});
  }

  capabilities(config: Readonly<Record<string, string>> = {}): BackendCapabilities {
    const s = resolveSettings(this.options, config);
    return {
      runtimes: s.kubevirt ? ['sandbox', 'virtualMachine'] : ['sandbox'],
      volumeKinds: s.kubevirt ? ['disk', 'configMap', 'secret'] : ['configMap', 'secret'],
      features: s.kubevirt ? ['networkPolicy', 'namedPorts', 'sshKeys'] : ['networkPolicy', 'namedPorts'],
      instanceTypes: Object.keys(s.instanceTypes).sort(),
      ...(s.kubevirt ? { images: Object.keys(s.images).sort() } : {}),
      // A sandbox is a Pod: its power state is its containers' state.
      reportsContainerState: true,
      // Operator controls: the adopt annotation, ObserveOnly, plan (docs/kubernetes.md).
      adopt: true,
      observe: true,
      plan: true,
    };
  }

  private session(ctx: BackendContext): Session {
    const managedBy = labelValue(this.options.managedBy ?? ctx.installation ?? DEFAULT_MANAGED_BY);
    return this.clients.session(ctx, resolveSettings(this.options, ctx.config), managedBy);
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
    return instances.ensureInstance(this.session(ctx), desired, { topology: ctx.location.topology });
  }

  deleteInstance(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return instances.deleteInstance(this.session(ctx), id);
  }

  listManaged(ctx: BackendContext): Promise<ManagedResource[]> {
    return listManaged(this.session(ctx));
  }

  release(
    ctx: BackendContext,
    _kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }> {
    return release(this.session(ctx), id);
  }

  adoptInstance(
    ctx: BackendContext,
    providerId: string,
    desired: InstanceDesired,
  ): Promise<{ providerId: string }> {
    return adoption.adoptInstance(this.session(ctx), providerId, desired);
  }

  observeInstance(
    ctx: BackendContext,
    ref: { id: string; providerId?: string },
  ): Promise<InstanceObserved | undefined> {
    return controls.observeInstance(this.session(ctx), ref);
  }

  planInstance(ctx: BackendContext, desired: InstanceDesired): Promise<InstancePlan> {
    return controls.planInstance(this.session(ctx), desired, ctx.location.topology);
  }

  close(): Promise<void> {
    return this.clients.close();
  }
}
