/**
 * The bare-metal backend: Instances are physical machines from an inventory of BareMetalHosts in the provider's
 * home cluster, driven through their BMCs' Redfish API. A host is claimed for an Instance (by id, with the owner
 * and installation recorded on the host), provisioned by virtual-media boot of the mapped image with a cloud-init
 * config drive, and freed after it is powered off and its media ejected. See docs/baremetal.md.
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
  PowerState,
  SubnetDesired,
  SubnetObserved,
} from '../../datum/backend.ts';
import { BackendError } from '../../datum/backend.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { addressFor } from './addresses.ts';
import { ConfigDriveServer } from './configdrive.ts';
import { acceptAdopted, adoptHost, type ControlsContext, observeHost, planHost } from './controls.ts';
import { Inventory } from './inventory.ts';
import { deprovisionStep, startProvisioning } from './provision.ts';
import { NetworkRecords } from './records.ts';
import { RedfishClient } from './redfish.ts';
import type { BareMetalHost } from './resources.ts';
import { type BareMetalSettings, parseSettings } from './settings.ts';

export interface BareMetalBackendOptions {
  /** The provider's home cluster, where BareMetalHosts, their BMC Secrets and our records live. */
  home: HttpClient;
  /** The provider's `backendConfig` (ProviderConfigs' `config` is merged over it per call). */
  config?: Record<string, string>;
}

export class BareMetalBackend implements Backend {
  readonly name = 'baremetal';
  private readonly home: HttpClient;
  private readonly base: Record<string, string>;
  private readonly records: NetworkRecords;
  private readonly drive: ConfigDriveServer;

  constructor(opts: BareMetalBackendOptions) {
    this.home = opts.home;
    this.base = opts.config ?? {};
    this.records = new NetworkRecords(opts.home);
    const s = parseSettings(this.base);
    this.drive = new ConfigDriveServer({ listen: s.configDriveListen, publicUrl: s.configDriveUrl });
  }

  capabilities(config?: Readonly<Record<string, string>>): BackendCapabilities {
    const s = parseSettings({ ...this.base, ...config });
    return {
      runtimes: ['virtualMachine'],
      // No `secret`: a machine has no secret store to deliver it through (docs/baremetal.md).
      volumeKinds: ['disk', 'configMap'],
      // Ingress rules are enforced in the machine (nftables from the config drive); no external IPs.
      features: ['networkPolicy', 'namedPorts', 'sshKeys'],
      instanceTypes: Object.keys(s.instanceTypes),
      images: Object.keys(s.images),
      adopt: true,
      observe: true,
      plan: true,
    };
  }

  private settings(ctx: BackendContext): BareMetalSettings {
    return parseSettings({ ...this.base, ...ctx.config });
  }

  private installation(ctx: BackendContext): string {
    return ctx.installation ?? 'default';
  }

  private inventory(s: BareMetalSettings): Inventory {
    return new Inventory(this.home, s.hostSelector);
  }

  async ensureNetwork(ctx: BackendContext, desired: NetworkDesired): Promise<NetworkObserved> {
    await this.records.ensure({ ...desired, type: 'network' }, this.installation(ctx));
    return { providerId: desired.id, ready: true };
  }

  async deleteNetwork(ctx: BackendContext, id: string): Promise<DeleteResult> {
    const subnets = (await this.records.list(this.installation(ctx))).filter((r) => r.spec.networkId === id);
    if (subnets.length) return { gone: false };
    await this.records.remove(id);
    return { gone: true };
  }

  async ensureSubnet(ctx: BackendContext, desired: SubnetDesired): Promise<SubnetObserved> {
    await this.records.ensure({ ...desired, type: 'subnet' }, this.installation(ctx));
    return { providerId: desired.id, ready: true };
  }

  async deleteSubnet(ctx: BackendContext, id: string): Promise<DeleteResult> {
    const hosts = await this.inventory(this.settings(ctx)).hosts();
    if (hosts.some((h) => h.status?.claimedBy && h.status.subnetId === id)) return { gone: false };
    await this.records.remove(id);
    return { gone: true };
  }

  async ensureInstance(ctx: BackendContext, desired: InstanceDesired): Promise<InstanceObserved> {
    if (desired.runtime.kind !== 'virtualMachine')
      throw new BackendError(
        'Unsupported',
        'bare metal runs virtual-machine Instances only (no sandbox runtime)',
      );
    const s = this.settings(ctx);
    const image = s.images[desired.runtime.image];
    if (!image)
      throw new BackendError('InvalidConfiguration', `no image URL configured for ${desired.runtime.image}`);
    const need = s.instanceTypes[desired.instanceType];
    if (!need)
      throw new BackendError('InvalidConfiguration', `unknown instance type ${desired.instanceType}`);
    const inv = this.inventory(s);
    const installation = this.installation(ctx);
    let host =
      (await inv.claimedBy(desired.id, installation)) ??
      (await inv.claim(need, ctx.location.topology, {
        id: desired.id,
        owner: desired.owner,
        installation,
        subnetId: desired.interfaces[0]?.subnetId,
        templateHash: desired.templateHash,
      }));
    if (!host)
      throw new BackendError(
        'QuotaExceeded',
        `no free bare-metal host with ${need.cpu} CPUs, ${need.memoryGiB} GiB${need.gpus ? `, ${need.gpus} GPUs` : ''} serves Location ${ctx.location.namespace}/${ctx.location.name}`,
        { retryable: true, retryAfterMs: 15_000 },
      );
    const name = host.metadata.name!;
    const bmc = await this.bmc(inv, host, s, ctx);
    if (host.status?.adopted && host.status.templateHash !== desired.templateHash)
      // Taken over with the adopt annotation: accepted as it is (or refused), never re-imaged.
      host = await acceptAdopted(this.controls(ctx, s), host, desired);
    if (host.status?.phase === 'provisioned' && host.status.templateHash !== desired.templateHash)
      host = await inv.update(host, { phase: 'claimed', templateHash: desired.templateHash });
    if (host.status?.phase === 'claimed') {
      const configDrive = await this.drive.publish(desired);
      await startProvisioning(bmc, name, { image, configDrive });
      host = await inv.update(host, {
        phase: 'provisioning',
        image: desired.runtime.image,
        powerRequestedAt: new Date().toISOString(),
      });
    }
    const { powerState } = await bmc.system();
    let state: PowerState = 'pending';
    if (powerState === 'On') {
      state = 'running';
      if (host.status?.phase !== 'provisioned') host = await inv.update(host, { phase: 'provisioned' });
    } else if (this.due(host, s)) {
      // Lost or never applied (or switched off behind our back): ask again.
      await bmc.reset('On');
      host = await inv.update(host, { powerRequestedAt: new Date().toISOString() });
    }
    const subnet = desired.interfaces[0] ? await this.records.get(desired.interfaces[0].subnetId) : undefined;
    return {
      providerId: name,
      upToDate: host.status?.templateHash === desired.templateHash && host.status?.phase === 'provisioned',
      powerState: state,
      addresses: desired.interfaces.map((_, i) => ({
        networkIP: i === 0 ? addressFor(host.spec.addresses ?? [], subnet?.spec.cidr) : undefined,
      })),
    };
  }

  async deleteInstance(ctx: BackendContext, id: string): Promise<DeleteResult> {
    const s = this.settings(ctx);
    const inv = this.inventory(s);
    let host = await inv.claimedBy(id, this.installation(ctx));
    if (!host) return { gone: true };
    if (host.status?.phase !== 'deprovisioning')
      host = await inv.update(host, { phase: 'deprovisioning', powerRequestedAt: undefined });
    const bmc = await this.bmc(inv, host, s, ctx);
    const step = await deprovisionStep(bmc, this.due(host, s));
    if (step === 'requested') await inv.update(host, { powerRequestedAt: new Date().toISOString() });
    if (step !== 'off') return { gone: false };
    this.drive.unpublish(id);
    await inv.update(host, { phase: 'free' }, { replace: true });
    ctx.log.info('bare-metal host freed', { host: host.metadata.name, instance: id });
    return { gone: true };
  }

  async listManaged(ctx: BackendContext): Promise<ManagedResource[]> {
    const installation = this.installation(ctx);
    const hosts = await this.inventory(this.settings(ctx)).hosts();
    const out: ManagedResource[] = hosts
      .filter((h) => h.status?.claimedBy && h.status.installation === installation && h.status.owner)
      .map((h) => ({
        kind: 'instance',
        id: h.status!.claimedBy!,
        providerId: h.metadata.name!,
        owner: h.status!.owner!,
      }));
    for (const r of await this.records.list(installation))
      if (r.spec.owner)
        out.push({
          kind: r.spec.type,
          id: r.metadata.name!,
          providerId: r.metadata.name!,
          owner: r.spec.owner,
        });
    return out;
  }

  /**
   * Retain: the machine keeps running as it is, but we stop managing it. Its claim is replaced by phase
   * `retained` (no owner, no claimedBy), so it is neither listed, adopted nor given to anyone else until an
   * operator sets it free.
   */
  async release(
    ctx: BackendContext,
    kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }> {
    if (kind !== 'instance') {
      const r = await this.records.get(id);
      if (!r || r.spec.installation !== this.installation(ctx)) return { released: [] };
      await this.records.remove(id);
      return { released: [id] };
    }
    const inv = this.inventory(this.settings(ctx));
    const host = await inv.claimedBy(id, this.installation(ctx));
    if (!host) return { released: [] };
    this.drive.unpublish(id);
    await inv.update(
      host,
      {
        phase: 'retained',
        retainedFrom: id,
        // What it runs, for an adoption to compare with.
        ...(host.status?.image ? { image: host.status.image } : {}),
        message: `retained for ${host.status?.owner?.namespace}/${host.status?.owner?.name}`,
      },
      { replace: true },
    );
    return { released: [host.metadata.name!] };
  }

  async adoptInstance(
    ctx: BackendContext,
    providerId: string,
    desired: InstanceDesired,
  ): Promise<{ providerId: string }> {
    return adoptHost(this.controls(ctx, this.settings(ctx)), providerId, desired);
  }

  async observeInstance(
    ctx: BackendContext,
    ref: { id: string; providerId?: string },
  ): Promise<InstanceObserved | undefined> {
    return observeHost(this.controls(ctx, this.settings(ctx)), ref);
  }

  async planInstance(ctx: BackendContext, desired: InstanceDesired): Promise<InstancePlan> {
    return planHost(this.controls(ctx, this.settings(ctx)), desired);
  }

  async close(): Promise<void> {
    await this.drive.close();
  }

  private controls(ctx: BackendContext, s: BareMetalSettings): ControlsContext {
    const inv = this.inventory(s);
    return {
      inv,
      records: this.records,
      settings: s,
      installation: this.installation(ctx),
      topology: ctx.location.topology,
      bmc: (host) => this.bmc(inv, host, s, ctx),
    };
  }

  private due(host: BareMetalHost, s: BareMetalSettings): boolean {
    const at = host.status?.powerRequestedAt;
    return !at || Date.now() - Date.parse(at) > s.powerRetryMs;
  }

  private async bmc(
    inv: Inventory,
    host: BareMetalHost,
    s: BareMetalSettings,
    ctx: BackendContext,
  ): Promise<RedfishClient> {
    return new RedfishClient({
      systemUrl: host.spec.bmc.address,
      credentials: await inv.credentials(host),
      timeoutMs: s.bmcTimeoutMs,
      signal: ctx.signal,
      host: host.metadata.name!,
    });
  }
}
