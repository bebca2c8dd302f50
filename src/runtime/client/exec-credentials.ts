/**
 * Credentials from an exec plugin, cached until shortly before they expire (client-go's exec authenticator,
 * plus an early refresh so a request never races the expiry):
 *   - no credential, or an expired one: the caller waits for a run of the plugin;
 *   - within the refresh margin of the expiry (a fifth of the lifetime, at most 30 s): the current credential
 *     is served and one run starts in the background (plugins that cache, like datumctl, may hand back the
 *     same credential until their own cut-off, so an early run is retried at most every third of the margin);
 *   - a 401 drops the credential that got it, so the next request runs the plugin.
 * At most one run at a time per plugin and cluster, whatever the number of clients: every caller joins the
 * run in flight. A failed run is remembered for a short, growing while (0.25 s doubling to 5 s) so callers
 * retrying in a loop do not start the plugin on every attempt.
 */
import type { ExecClusterInfo, ExecConfig, ExecCredential } from './exec-plugin.ts';
import { runExecPlugin } from './exec-plugin.ts';

const MAX_MARGIN_MS = 30_000;
const MIN_EARLY_RETRY_MS = 250;
const FAILURE_BASE_MS = 250;
const FAILURE_CAP_MS = 5_000;

export interface ExecCredentialStats {
  /** Plugin runs started. */
  runs: number;
  failures: number;
  /** Runs started in the background, before the expiry. */
  earlyRefreshes: number;
}

type Run = (cfg: ExecConfig, cluster?: ExecClusterInfo, redact?: string[]) => Promise<ExecCredential>;

export class ExecCredentialProvider {
  readonly cfg: ExecConfig;
  readonly cluster?: ExecClusterInfo;
  readonly stats: ExecCredentialStats = { runs: 0, failures: 0, earlyRefreshes: 0 };
  private current: (ExecCredential & { obtainedAt: number }) | undefined;
  private inflight: Promise<ExecCredential> | undefined;
  private failure: { err: unknown; until: number } | undefined;
  private consecutiveFailures = 0;
  private nextEarly = 0;
  private readonly run: Run;
  private readonly now: () => number;

  constructor(cfg: ExecConfig, cluster?: ExecClusterInfo, opts: { run?: Run; now?: () => number } = {}) {
    this.cfg = cfg;
    this.cluster = cluster;
    this.run = opts.run ?? runExecPlugin;
    this.now = opts.now ?? Date.now;
  }

  /** A credential for the next request: cached, refreshed early in the background, or from a run now. */
  get(): Promise<ExecCredential> {
    const now = this.now();
    const c = this.current;
    if (c && (c.expiresAt === undefined || now < c.expiresAt)) {
      if (
        c.expiresAt !== undefined &&
        now >= c.expiresAt - margin(c) &&
        now >= this.nextEarly &&
        !this.inflight
      ) {
        this.nextEarly = now + Math.max(MIN_EARLY_RETRY_MS, margin(c) / 3);
        this.stats.earlyRefreshes++;
        this.refresh().catch(() => {}); // the current credential stays good until it expires
      }
      return Promise.resolve(c);
    }
    return this.refresh();
  }

  /** The API server refused `used` (401): forget it unless a newer credential replaced it already. */
  invalidate(used: ExecCredential): void {
    const c = this.current;
    if (c && c.token === used.token && c.certData === used.certData) this.current = undefined;
    this.failure = undefined; // a 401 is new information: try the plugin again now
  }

  /** When the current credential expires (epoch ms), if it does. */
  get expiresAt(): number | undefined {
    return this.current?.expiresAt;
  }

  private refresh(): Promise<ExecCredential> {
    if (this.inflight) return this.inflight;
    const started = this.now();
    if (this.failure && started < this.failure.until) return Promise.reject(this.failure.err);
    this.stats.runs++;
    const redact = [this.current?.token, this.current?.keyData].filter((s): s is string => !!s);
    const p = this.run(this.cfg, this.cluster, redact).then(
      (cred) => {
        // The same credential handed back keeps its age: the margin is a share of its whole lifetime.
        const same =
          this.current && this.current.token === cred.token && this.current.certData === cred.certData;
        this.current = { ...cred, obtainedAt: same ? this.current!.obtainedAt : this.now() };
        this.failure = undefined;
        this.consecutiveFailures = 0;
        return cred;
      },
      (err: unknown) => {
        this.stats.failures++;
        const wait = Math.min(FAILURE_CAP_MS, FAILURE_BASE_MS * 2 ** this.consecutiveFailures++);
        this.failure = { err, until: this.now() + wait };
        throw err;
      },
    );
    this.inflight = p.finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }
}

function margin(c: { expiresAt?: number; obtainedAt: number }): number {
  return Math.min(MAX_MARGIN_MS, Math.max(0, ((c.expiresAt ?? c.obtainedAt) - c.obtainedAt) / 5));
}

// One provider per plugin and cluster for the whole process, as client-go keeps one per exec config: the
// project, home and leader-election clients of one kubeconfig user share a credential and its refreshes.
const providers = new Map<string, ExecCredentialProvider>();

export function execCredentialProvider(cfg: ExecConfig, cluster: ExecClusterInfo): ExecCredentialProvider {
  const key = JSON.stringify([cfg, cfg.provideClusterInfo ? cluster : null]);
  let p = providers.get(key);
  if (!p) {
    p = new ExecCredentialProvider(cfg, cluster);
    providers.set(key, p);
  }
  return p;
}
