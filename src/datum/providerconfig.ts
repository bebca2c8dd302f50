/**
 * ProviderConfig resolution: which ProviderConfig serves a Location, and the credentials it names.
 * Secret values go to the backend only; errors name the Secret, never its data, and every resolved value
 * is registered with the redactor so it cannot leak into a log line, event or condition message.
 *
 * ProviderConfigs are read from an informer once the resolver runs (`mgr.add(resolver)`), by listing before
 * that; credential Secrets are read with `get` (no cluster-wide watch on Secrets) and kept for a short TTL.
 * A home cluster without the ProviderConfig CRD is an error, never a fall-back to the ambient identity.
 */
import { Informer, stripManagedFields } from '../runtime/cache/informer.ts';
import type { HttpClient } from '../runtime/client/client.ts';
import { isNotFound } from '../runtime/client/errors.ts';
import type { Condition, KubeObject, ResourceType } from '../runtime/client/types.ts';
import { createLogger, type Logger } from '../runtime/log/logger.ts';
import { setCondition } from '../runtime/util/conditions.ts';
import type { Location } from './api/types.ts';
import type { Credentials } from './backend.ts';
import { CITY_CODE_KEY, REASON } from './classic.ts';
import {
  notPermittedMessage,
  permitsProject,
  projectMapping,
  recordedNotPermittedMessage,
  selectProviderConfig,
} from './project-providerconfig.ts';
import { Redactor, registerSecretData } from './redact.ts';
import { PROVIDER_GROUP, type ProviderSettings } from './settings.ts';

export const PROVIDER_CONFIG: ResourceType = {
  group: PROVIDER_GROUP,
  version: 'v1alpha1',
  kind: 'ProviderConfig',
  plural: 'providerconfigs',
  namespaced: false,
};
const SECRET: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  plural: 'secrets',
  namespaced: true,
};

export interface ProviderConfig extends KubeObject {
  spec: {
    credentials: {
      source: 'Secret' | 'InjectedIdentity';
      secretRef?: { namespace: string; name: string; key?: string };
    };
    region?: string;
    config?: Record<string, string>;
    locations?: { names?: string[]; cityCodes?: string[] };
    /** The projects (cluster names) it may serve; absent: every project (project-providerconfig.ts). */
    projects?: string[];
    /** No backend calls for the objects it serves until false again (maintenance). */
    paused?: boolean;
    /** Delete (default) or Retain the platform resources of deleted objects. */
    deletionPolicy?: 'Delete' | 'Retain';
  };
}

export interface ResolvedConfig {
  name: string;
  credentials: Credentials;
  region?: string;
  config: Record<string, string>;
}

/** No usable credentials: the condition reason says which kind of trouble (missing, or not permitted). */
export class CredentialsError extends Error {
  override name = 'CredentialsError';
  readonly reason: string;
  constructor(message: string, reason: string = REASON.CredentialsUnavailable) {
    super(message);
    this.reason = reason;
  }
}

/** The ProviderConfig name reported when none serves a Location (then: injected identity). */
export const NO_PROVIDER_CONFIG = '(none)';

/** A rotated Secret is picked up within this time; a changed ProviderConfig at once. */
export const DEFAULT_SECRET_TTL_MS = 30_000;

export interface ResolverOptions {
  /** Where status-write failures and the missing CRD are reported. Default: stderr, through the redactor. */
  log?: Logger;
  secretTtlMs?: number;
  now?: () => number;
  /** A project's labels (Milo: its Project's), where a project's ProviderConfig label is read. */
  projectLabels?: (project: string) => Readonly<Record<string, string>> | undefined;
}

const MISSING_CRD =
  `the ProviderConfig CRD (providerconfigs.${PROVIDER_GROUP}) is not installed in the provider's home ` +
  'cluster: install deploy/crds; no backend call is made without it (the ambient identity is never used instead)';

export class ProviderConfigResolver {
  /** Only the leader reconciles, so only the leader needs the watch; before it runs, lookups list. */
  readonly needLeaderElection = true;
  readonly redactor: Redactor;
  private readonly home: HttpClient;
  private readonly settings: ProviderSettings;
  private readonly log: Logger;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly projectLabels: ResolverOptions['projectLabels'];
  private informer: Informer<ProviderConfig> | undefined;
  /** Secret reads by `namespace/name`: the pending or settled read and when it started. */
  private readonly secrets = new Map<string, { at: number; read: Promise<KubeObject> }>();

  constructor(
    home: HttpClient,
    settings: ProviderSettings,
    redactor = new Redactor(),
    opts: ResolverOptions = {},
  ) {
    this.home = home;
    this.settings = settings;
    this.redactor = redactor;
    this.log =
      opts.log ?? createLogger({ fields: { logger: 'providerconfig' }, redact: redactor.redactLine });
    this.ttlMs = opts.secretTtlMs ?? DEFAULT_SECRET_TTL_MS;
    this.now = opts.now ?? Date.now;
    this.projectLabels = opts.projectLabels;
  }

  /** Runnable (`mgr.add(resolver)`): watches ProviderConfigs; a changed one drops its cached Secret. */
  start(signal: AbortSignal): Promise<void> {
    if (!this.informer) {
      const inf = new Informer<ProviderConfig>(
        this.home,
        PROVIDER_CONFIG,
        { transform: stripManagedFields },
        this.log,
      );
      inf.addEventHandler({
        onUpdate: (old, cur) => {
          if (JSON.stringify(old.spec) !== JSON.stringify(cur.spec)) this.forget(old, cur);
        },
        onDelete: (old) => this.forget(old),
      });
      inf.start(signal);
      this.informer = inf;
    }
    return new Promise((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** Whether lookups are served from the watch (tests, readiness). */
  watching(): boolean {
    return !!this.informer?.hasSynced();
  }

  /** Drops every cached Secret read (e.g. after the backend called the credentials invalid). */
  invalidate(): void {
    this.secrets.clear();
  }

  /** Every ProviderConfig. Throws a CredentialsError when the CRD is not installed. */
  async list(): Promise<ProviderConfig[]> {
    if (this.informer?.hasSynced()) return this.informer.list();
    // A started informer syncs within one LIST: wait for it rather than have every reconcile of a restart
    // list ProviderConfigs itself (a missing CRD never syncs, so the wait is bounded and falls through).
    if (this.informer && (await this.informer.waitForSync({ timeoutMs: 2_000 }))) return this.informer.list();
    try {
      return (await this.home.list<ProviderConfig>(PROVIDER_CONFIG)).items;
    } catch (err) {
      if (isNotFound(err)) throw new CredentialsError(MISSING_CRD);
      throw err;
    }
  }

  /** One ProviderConfig by name, or undefined. Throws a CredentialsError when the CRD is not installed. */
  async get(name: string): Promise<ProviderConfig | undefined> {
    return (await this.list()).find((p) => p.metadata.name === name);
  }

  /**
   * The ProviderConfig serving a project's object in a Location: the project's own (label, then settings),
   * else one that lists the Location (by name, then city code), else the default; one that does not permit
   * the project is refused with a CredentialsError (reason ProviderConfigNotPermitted). Without a project,
   * only ProviderConfigs serving every project qualify.
   */
  async select(loc: Location, project?: string): Promise<ProviderConfig | undefined> {
    const sel = selectProviderConfig(await this.list(), {
      project,
      location: `${loc.metadata.namespace}/${loc.metadata.name}`,
      city: loc.spec?.topology?.[CITY_CODE_KEY],
      mapping: projectMapping(
        project,
        project === undefined ? undefined : this.projectLabels?.(project),
        this.settings.projectProviderConfigs,
      ),
      defaultName: this.settings.defaultProviderConfig,
    });
    if ('missing' in sel)
      throw new CredentialsError(
        `project ${project} is mapped to ProviderConfig ${sel.missing} (by ${sel.by}), which does not exist`,
      );
    if ('notPermitted' in sel)
      throw new CredentialsError(
        notPermittedMessage(sel.notPermitted.metadata.name!, project, sel.by),
        REASON.ProviderConfigNotPermitted,
      );
    return sel.pc;
  }

  /**
   * One ProviderConfig by name for a project's resource (e.g. the one recorded at its creation), or undefined;
   * one that no longer permits the project is refused (CredentialsError, ProviderConfigNotPermitted).
   */
  async getFor(name: string, project: string | undefined): Promise<ProviderConfig | undefined> {
    const pc = await this.get(name);
    if (pc && !permitsProject(pc, project))
      throw new CredentialsError(
        recordedNotPermittedMessage(name, project),
        REASON.ProviderConfigNotPermitted,
      );
    return pc;
  }

  /** Whether the named ProviderConfig may serve a project (none, i.e. injected identity: yes). */
  async permits(name: string, project: string | undefined): Promise<boolean> {
    if (name === NO_PROVIDER_CONFIG) return true;
    const pc = await this.get(name);
    return !!pc && permitsProject(pc, project);
  }

  /**
   * The `config` map and region of the ProviderConfig serving a Location (or of the one named), without
   * reading credentials: what backend capabilities depend on.
   */
  async configFor(
    loc: Location,
    name?: string,
    project?: string,
  ): Promise<{ name: string; region?: string; config: Record<string, string> }> {
    if (name === NO_PROVIDER_CONFIG) return { name, config: {} };
    const pc = name ? await this.getFor(name, project) : await this.select(loc, project);
    if (name && !pc) throw new CredentialsError(`ProviderConfig ${name} does not exist`);
    if (!pc) return { name: NO_PROVIDER_CONFIG, config: {} };
    return { name: pc.metadata.name!, region: pc.spec.region, config: pc.spec.config ?? {} };
  }

  /** The ProviderConfig for a project's Location, credentials resolved; none (CRD installed) = injected identity. */
  async forLocation(loc: Location, project?: string): Promise<ResolvedConfig> {
    const pc = await this.select(loc, project);
    if (!pc) return { name: NO_PROVIDER_CONFIG, credentials: { source: 'InjectedIdentity' }, config: {} };
    return this.resolve(pc);
  }

  /** Resolves and records the outcome on the ProviderConfig's `Ready` condition (reason, never a value). */
  async resolve(pc: ProviderConfig): Promise<ResolvedConfig> {
    try {
      const rc = await this.resolveCredentials(pc);
      await this.report(
        pc,
        'True',
        'CredentialsResolved',
        `credentials from ${pc.spec.credentials.source} resolve`,
      );
      return rc;
    } catch (err) {
      if (err instanceof CredentialsError)
        await this.report(pc, 'False', 'CredentialsUnavailable', err.message);
      throw err;
    }
  }

  private forget(...pcs: ProviderConfig[]): void {
    for (const pc of pcs) {
      const ref = pc.spec?.credentials?.secretRef;
      if (ref) this.secrets.delete(`${ref.namespace}/${ref.name}`);
    }
  }

  private async report(
    pc: ProviderConfig,
    status: 'True' | 'False',
    reason: string,
    text: string,
  ): Promise<void> {
    const message = this.redactor.redact(text);
    const cur = (pc.status?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Ready');
    if (cur?.status === status && cur.reason === reason && cur.message === message) return;
    const conditions = setCondition(pc.status?.conditions, {
      type: 'Ready',
      status,
      reason,
      message,
      observedGeneration: pc.metadata.generation,
    });
    try {
      await this.home.patchStatus(PROVIDER_CONFIG, pc.metadata.name!, undefined, {
        type: 'merge',
        patch: { status: { conditions } },
      });
    } catch (err) {
      // Not fatal (resolution stands), but an operator must be able to see why the status is stale.
      this.log.warn('ProviderConfig status not written', {
        providerConfig: pc.metadata.name,
        reason,
        err: this.redactor.redact(err instanceof Error ? err.message : String(err)),
      });
    }
  }

  /** A credentials Secret, from a read at most `secretTtlMs` old; concurrent callers share one read. */
  private readSecret(namespace: string, name: string): Promise<KubeObject> {
    const key = `${namespace}/${name}`;
    const hit = this.secrets.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.read;
    const read = this.home.get(SECRET, name, namespace);
    const entry = { at: this.now(), read };
    this.secrets.set(key, entry);
    // A failed read is not kept: the next reconcile asks again (the Secret may have been created since).
    read.catch(() => {
      if (this.secrets.get(key) === entry) this.secrets.delete(key);
    });
    return read;
  }

  private async resolveCredentials(pc: ProviderConfig): Promise<ResolvedConfig> {
    const base = { name: pc.metadata.name!, region: pc.spec.region, config: pc.spec.config ?? {} };
    if (pc.spec.credentials.source === 'InjectedIdentity')
      return { ...base, credentials: { source: 'InjectedIdentity' } };
    const ref = pc.spec.credentials.secretRef;
    if (!ref)
      throw new CredentialsError(
        `ProviderConfig ${pc.metadata.name}: credentials.source is Secret but secretRef is missing`,
      );
    let secret: KubeObject;
    try {
      secret = await this.readSecret(ref.namespace, ref.name);
    } catch (err) {
      if (isNotFound(err))
        throw new CredentialsError(
          `ProviderConfig ${pc.metadata.name}: Secret ${ref.namespace}/${ref.name} not found`,
        );
      throw new CredentialsError(
        `ProviderConfig ${pc.metadata.name}: cannot read Secret ${ref.namespace}/${ref.name} (${(err as Error).name})`,
      );
    }
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries<string>(secret.data ?? {}))
      data[k] = Buffer.from(v, 'base64').toString('utf8');
    for (const [k, v] of Object.entries<string>(secret.stringData ?? {})) data[k] = v;
    let out = data;
    if (ref.key) {
      if (!(ref.key in data))
        throw new CredentialsError(
          `ProviderConfig ${pc.metadata.name}: Secret ${ref.namespace}/${ref.name} has no key '${ref.key}'`,
        );
      out = parseKeyed(data[ref.key]!);
    }
    // Every key of the Secret (not only the ones used) and each line of multi-line values (PEM keys).
    registerSecretData(this.redactor, secret);
    this.redactor.addAll(Object.values(out));
    return { ...base, credentials: { source: 'Secret', data: out } };
  }
}

/** A single Secret key holding `k=v` lines or a JSON object (as AWS credential files and tooling produce). */
function parseKeyed(text: string): Record<string, string> {
  const t = text.trim();
  if (t.startsWith('{')) {
    try {
      return Object.fromEntries(Object.entries(JSON.parse(t)).map(([k, v]) => [k, String(v)]));
    } catch {
      throw new CredentialsError('credential key holds malformed JSON');
    }
  }
  const out: Record<string, string> = {};
  for (const line of t.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}
