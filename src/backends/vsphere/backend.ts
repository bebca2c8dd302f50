/**
 * The VMware vSphere backend (vim25 SOAP, our own client): Datum networks → distributed portgroups with a
 * VLAN, subnets → records on their portgroup, VM Instances → VMs cloned from templates. No sandboxes, no
 * firewall (NSX is out of scope). See docs/vsphere.md for settings, privileges and behaviour.
 */
import { createHash } from 'node:crypto';
import {
  type Backend,
  type BackendCapabilities,
  type BackendContext,
  BackendError,
  type DeleteResult,
  type InstanceDesired,
  type InstanceObserved,
  type InstancePlan,
  type ManagedResource,
  type NetworkDesired,
  type NetworkObserved,
  type SubnetDesired,
  type SubnetObserved,
} from '../../datum/backend.ts';
import { KeyedMutex } from '../../runtime/util/keyed-mutex.ts';
import * as controls from './controls.ts';
import { toBackendError } from './errors.ts';
import * as instances from './instance.ts';
import { listManaged } from './list.ts';
import { existingFieldKeys, fieldKeys } from './marks.ts';
import * as networks from './network.ts';
import { type PlacementRefs, resolvePlacement, type Session } from './session.ts';
import { requireEndpoint, resolveSettings, type VsphereSettings } from './settings.ts';
import { SoapTransport } from './transport.ts';
import { type VimClient as Vim, VimClient } from './vim.ts';

export const DEFAULT_MANAGED_BY = 'datum-provider-ts';

export interface VsphereBackendOptions {
  /** Provider-wide config (`backendConfig`); a ProviderConfig's `config` is merged over it. */
  config?: Record<string, string>;
  /** Installation identity override (else the one the provider passes in). */
  managedBy?: string;
}

export class VsphereBackend implements Backend {
  readonly name = 'vsphere';
  private readonly config: Record<string, string>;
  private readonly managedBy: string | undefined;
  private readonly clients = new Map<string, Vim>();
  private readonly placements = new Map<string, { epoch: number; refs: Promise<PlacementRefs> }>();
  private readonly locks = new KeyedMutex();
  private readonly reserved = new Map<string, Set<string>>();

  constructor(options: VsphereBackendOptions = {}) {
    this.config = options.config ?? {};
    this.managedBy = options.managedBy ?? this.config.managedBy;
    resolveSettings(this.config); // fail at start-up on bad config
  }

  capabilities(config: Readonly<Record<string, string>> = {}): BackendCapabilities {
    const s = resolveSettings({ ...this.config, ...config });
    return {
      runtimes: ['virtualMachine'],
      volumeKinds: ['disk'],
      features: ['sshKeys', 'namedPorts'],
      instanceTypes: Object.keys(s.instanceTypes).sort(),
      images: Object.keys(s.images).sort(),
      adopt: true,
      observe: true,
      plan: true,
    };
  }

  /** SOAP calls per operation across all clients (measurements, tests). */
  get calls(): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of this.clients.values())
      for (const [k, v] of c.transport.calls) out.set(k, (out.get(k) ?? 0) + v);
    return out;
  }

  private secrets(ctx: BackendContext): string[] {
    return ctx.credentials.source === 'Secret' ? Object.values(ctx.credentials.data) : [];
  }

  private session(ctx: BackendContext): Session {
    const settings = resolveSettings({ ...this.config, ...ctx.config }, cityCode(ctx));
    const vim = this.client(settings, ctx);
    const placementKey = `${settings.endpoint}|${JSON.stringify(settings.placement)}`;
    return {
      vim,
      settings,
      installation: this.managedBy ?? ctx.installation ?? DEFAULT_MANAGED_BY,
      signal: ctx.signal,
      keys: () => fieldKeys(vim, ctx.signal),
      readKeys: () => existingFieldKeys(vim, ctx.signal),
      placement: () => {
        // Resolved again after a lost session (vCenter may have restarted with another inventory).
        let p = this.placements.get(placementKey);
        if (!p || p.epoch !== vim.epoch) {
          const refs = resolvePlacement(vim, settings, ctx.signal).catch((err) => {
            if (this.placements.get(placementKey)?.refs === refs) this.placements.delete(placementKey);
            throw err;
          });
          p = { epoch: vim.epoch, refs };
          this.placements.set(placementKey, p);
        }
        return p.refs;
      },
      locks: this.locks,
      reserved: this.reserved,
    };
  }

  private client(s: VsphereSettings, ctx: BackendContext): Vim {
    if (ctx.credentials.source !== 'Secret')
      throw new BackendError(
        'CredentialsInvalid',
        'vsphere: credentials must come from a Secret (username, password)',
      );
    const { username, password } = ctx.credentials.data;
    if (!username || !password)
      throw new BackendError(
        'CredentialsInvalid',
        "vsphere: the credentials Secret needs 'username' and 'password'",
      );
    const endpoint = requireEndpoint(s);
    const key = createHash('sha256')
      .update(JSON.stringify([endpoint, username, password, s.tls]))
      .digest('hex');
    let c = this.clients.get(key);
    if (!c) {
      const transport = new SoapTransport({ endpoint, tls: s.tls, maxAttempts: s.maxAttempts });
      c = new VimClient(transport, { username, password });
      this.clients.set(key, c);
    }
    return c;
  }

  private async run<T>(ctx: BackendContext, op: string, fn: (s: Session) => Promise<T>): Promise<T> {
    try {
      return await fn(this.session(ctx));
    } catch (err) {
      if (ctx.signal.aborted && !(err instanceof BackendError)) throw err;
      throw toBackendError(err, `vsphere ${op}`, this.secrets(ctx));
    }
  }

  ensureNetwork(ctx: BackendContext, d: NetworkDesired): Promise<NetworkObserved> {
    return this.run(ctx, 'ensureNetwork', (s) => networks.ensureNetwork(s, d));
  }

  deleteNetwork(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return this.run(ctx, 'deleteNetwork', (s) => networks.deleteNetwork(s, id));
  }

  ensureSubnet(ctx: BackendContext, d: SubnetDesired): Promise<SubnetObserved> {
    return this.run(ctx, 'ensureSubnet', (s) => networks.ensureSubnet(s, d));
  }

  deleteSubnet(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return this.run(ctx, 'deleteSubnet', (s) => networks.deleteSubnet(s, id));
  }

  ensureInstance(ctx: BackendContext, d: InstanceDesired): Promise<InstanceObserved> {
    return this.run(ctx, 'ensureInstance', (s) => instances.ensureInstance(s, d));
  }

  deleteInstance(ctx: BackendContext, id: string): Promise<DeleteResult> {
    return this.run(ctx, 'deleteInstance', (s) => instances.deleteInstance(s, id));
  }

  listManaged(ctx: BackendContext): Promise<ManagedResource[]> {
    return this.run(ctx, 'listManaged', (s) => listManaged(s));
  }

  release(
    ctx: BackendContext,
    kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }> {
    return this.run(ctx, 'release', async (s) => {
      if (kind === 'instance') return { released: await instances.releaseInstance(s, id) };
      if (kind === 'subnet') return { released: await networks.releaseSubnet(s, id) };
      return { released: await networks.releaseNetwork(s, id) };
    });
  }

  adoptInstance(
    ctx: BackendContext,
    providerId: string,
    d: InstanceDesired,
  ): Promise<{ providerId: string }> {
    return this.run(ctx, 'adoptInstance', (s) => controls.adoptInstance(s, providerId, d));
  }

  observeInstance(
    ctx: BackendContext,
    ref: { id: string; providerId?: string },
  ): Promise<InstanceObserved | undefined> {
    return this.run(ctx, 'observeInstance', (s) => controls.observeInstance(s, ref));
  }

  planInstance(ctx: BackendContext, d: InstanceDesired): Promise<InstancePlan> {
    return this.run(ctx, 'planInstance', (s) => controls.planInstance(s, d));
  }

  /** Logs every session out (so vCenter's session count does not grow) and closes the connections. */
  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(
      all.map(async (c) => {
        await c.logout();
        await c.transport.close();
      }),
    );
  }
}

function cityCode(ctx: BackendContext): string | undefined {
  return ctx.location.cityCode ?? ctx.location.topology['topology.datum.net/city-code'];
}
