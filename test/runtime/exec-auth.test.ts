/**
 * Exec credential plugins against a kube-apiserver that authenticates bearer tokens through our TokenReview
 * webhook: only a token the plugin minted, unexpired and unrevoked, gets in (anonymous access is off).
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlPlane } from '../../src/localenv/controlplane.ts';
import { Informer } from '../../src/runtime/cache/informer.ts';
import { createClient, type HttpClient } from '../../src/runtime/client/client.ts';
import { type ClusterConfig, loadKubeconfig } from '../../src/runtime/client/config.ts';
import { ExecCredentialError, UnauthorizedError } from '../../src/runtime/client/errors.ts';
import { runExecPlugin } from '../../src/runtime/client/exec-plugin.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Backoff } from '../../src/runtime/watch/watcher.ts';
import { startTokenWebhook, type TokenWebhook } from '../../src/testkit/token-webhook.ts';
import { CONFIGMAP, SELF_SUBJECT_REVIEW } from './fixtures/kinds.ts';
import { TokenIssuer } from './fixtures/token-issuer.ts';

const TTL_MS = 3000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const whoami = async (c: HttpClient) =>
  (await c.create<KubeObject>(SELF_SUBJECT_REVIEW, { metadata: {} })).status.userInfo.username as string;

describe('exec credential plugins against a token-authenticating API server', () => {
  const issuer = new TokenIssuer({ ttlMs: TTL_MS, delayMs: 100 });
  const dir = mkdtempSync(join(tmpdir(), 'exec-auth-'));
  let hook: TokenWebhook;
  let cp: ControlPlane;
  const clients: HttpClient[] = [];

  before(async () => {
    hook = await startTokenWebhook({ authenticate: issuer.lookup });
    cp = await ControlPlane.start({ tokenWebhook: hook, extraApiServerArgs: ['--anonymous-auth=false'] });
    writeFileSync(join(dir, 'ca.crt'), cp.connection.caData!);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cp?.stop();
    await hook?.close();
    issuer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A kubeconfig file whose user runs the plugin (the CA path is relative to the file). */
  function configFor(name: string, timeoutMs?: number): ClusterConfig {
    const path = join(dir, `${name}.kubeconfig`);
    const doc = {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': name,
      clusters: [{ name, cluster: { server: cp.connection.server, 'certificate-authority': 'ca.crt' } }],
      users: [{ name, user: { exec: issuer.exec([name]) } }],
      contexts: [{ name, context: { cluster: name, user: name } }],
    };
    writeFileSync(path, JSON.stringify(doc));
    const cfg = loadKubeconfig(path);
    if (timeoutMs) cfg.exec!.timeoutMs = timeoutMs;
    return cfg;
  }
  const client = (cfg: ClusterConfig, opts: Parameters<typeof createClient>[1] = {}) => {
    const c = createClient(cfg, opts);
    clients.push(c);
    return c;
  };

  it('runs the plugin unattended, and only a minted, unexpired token gets in', async () => {
    const c = client(configFor('basic'));
    assert.equal(await whoami(c), 'plugin-user');
    const run = issuer.runs().find((r) => r.args.includes('basic'))!;
    assert.equal(run.info.apiVersion, 'client.authentication.k8s.io/v1');
    assert.equal(run.info.spec?.interactive, false);
    assert.equal(run.stdinTTY, false);
    assert.equal(run.info.spec?.cluster?.server, cp.connection.server);
    assert.equal(
      Buffer.from(String(run.info.spec?.cluster?.['certificate-authority-data']), 'base64').toString(),
      cp.connection.caData,
    );
    const bearer = (token?: string) =>
      client({ server: cp.connection.server, caData: cp.connection.caData, token }, { maxAttempts: 1 });
    const minted = issuer.issued().at(-1)!;
    assert.equal(await whoami(bearer(minted.token)), 'plugin-user');
    await assert.rejects(whoami(bearer('tok-made-up')), UnauthorizedError);
    await assert.rejects(whoami(bearer()), UnauthorizedError, 'no anonymous access');
    // An expired token is refused. (One that was used is accepted from the API server's cache of successful
    // authentications for up to 10 s after its first use, expired or not: kube-apiserver's fixed token cache.)
    issuer.setMode('ok', { ttlMs: 500 });
    const shortLived = await runExecPlugin(c.config.exec!);
    issuer.setMode('ok', { ttlMs: TTL_MS });
    await sleep(shortLived.expiresAt! - Date.now() + 200);
    await assert.rejects(whoami(bearer(shortLived.token)), UnauthorizedError, 'expired token refused');
  });

  it('keeps an informer watching and a client writing across token expiries and a forced 401', async (t) => {
    const c = client(configFor('long-run'));
    const informer = new Informer(c, CONFIGMAP, {
      namespace: 'default',
      labelSelector: 'test=expiry',
      timeoutSeconds: [1, 2], // re-watch (re-authenticate) often
      backoff: new Backoff(200, 2000),
    });
    informer.start();
    assert.ok(await informer.waitForSync({ timeoutMs: 15_000 }));
    const mine = () => issuer.runs().filter((r) => r.args.includes('long-run'));
    const refused0 = hook.stats.refused;
    const errors: string[] = [];
    let n = 0;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        try {
          await c.create(CONFIGMAP, {
            metadata: { name: `cm-${n}`, namespace: 'default', labels: { test: 'expiry' } },
            data: { n: String(n) },
          });
          n++;
        } catch (err) {
          errors.push(String(err));
        }
        await sleep(100);
      }
    })();

    // Expiries: 3 s tokens, each replaced before it expires.
    await sleep(3 * TTL_MS);
    const expiryRuns = mine().length;
    const exec = c.transport.auth.exec!;
    const early = exec.stats.earlyRefreshes;
    assert.equal(hook.stats.refused, refused0, 'no request refused across expiries');

    // A forced 401: revoke a token that outlives the API server's 10 s cache of successful authentications.
    issuer.setMode('ok', { ttlMs: 60_000 });
    await waitFor(longLived, 10_000, 'a 60 s token');
    await sleep(1000); // in use, so the API server has it in its cache of successful authentications
    issuer.revokeAll();
    const revokedAt = Date.now();
    await waitFor(() => mine().some((r) => r.start > revokedAt), 15_000, 'the refresh after the forced 401');
    const forcedAfterMs = mine().find((r) => r.start > revokedAt)!.start - revokedAt;
    await sleep(1000);
    stop = true;
    await writer;
    issuer.setMode('ok', { ttlMs: TTL_MS });

    assert.deepEqual(errors, [], 'no write failed');
    await waitFor(() => informer.list().length === n, 10_000, `the informer to see all ${n} ConfigMaps`);
    await informer.stop();
    assert.equal(mine().filter((r) => r.start > revokedAt).length, 1, 'one plugin run for the forced 401');
    assert.ok(expiryRuns >= 3, `a new token every ~${TTL_MS} ms (${expiryRuns} runs)`);
    assert.ok(early >= 2, `refreshed before expiry (${early} early refreshes)`);
    assert.deepEqual(issuer.overlaps(), [], 'never two runs at once');
    const refused = hook.stats.refused - refused0;
    assert.ok(refused >= 1 && refused <= 6, `only the requests in flight at the forced 401 (${refused})`);
    // The first token, expired long since, is refused now: the client could not have coasted on it.
    const first = mine()[0]!.token!;
    const stale = client({ server: cp.connection.server, caData: cp.connection.caData, token: first });
    await assert.rejects(whoami(stale), UnauthorizedError);
    // How long before its expiry each 3 s token was replaced.
    const exp = new Map(issuer.issued().map((i) => [i.token, i.exp]));
    const minted = mine().slice(0, expiryRuns);
    const leads = minted.slice(1).map((r, i) => exp.get(minted[i]!.token!)! - r.end);
    t.diagnostic(
      `${n} writes, ${expiryRuns} tokens in ${3 * TTL_MS} ms (${early} early refreshes), ` +
        `replaced ${leads.join(', ')} ms before expiry; forced 401 ${forcedAfterMs} ms after revocation ` +
        `(API server cache), ${refused} requests refused, each retried once`,
    );

    function longLived(): boolean {
      const tok = mine().at(-1)?.token;
      return !!tok && (exp0().get(tok) ?? 0) > Date.now() + 30_000;
    }
    function exp0() {
      return new Map(issuer.issued().map((i) => [i.token, i.exp]));
    }
  });

  it('a failing, hanging or garbage-printing plugin: one clear line; callers retry with backoff and recover', async (t) => {
    issuer.setMode('fail');
    const c = client(configFor('failing', 1500));
    const err = await c.list(CONFIGMAP, { namespace: 'default' }).catch((e: unknown) => e);
    assert.ok(err instanceof ExecCredentialError, String(err));
    assert.match(
      err.message,
      /^exec plugin '.*plugin\.mjs failing' exited with code 1: error: the refresh token was revoked; run datumctl login$/,
    );
    for (const tok of issuer.issued()) assert.ok(!err.message.includes(tok.token));

    const logs: string[] = [];
    const log = createLogger({ level: 'debug', sink: (l) => logs.push(l) });
    const logged = client(configFor('failing', 1500), { log });
    const informer = new Informer(
      logged,
      CONFIGMAP,
      { namespace: 'default', labelSelector: 'test=recover', backoff: new Backoff(200, 1000) },
      log,
    );
    const runs0 = issuer.runs().length;
    informer.start();
    try {
      await sleep(3000);
      const failedRuns = issuer.runs().length - runs0;
      assert.ok(
        failedRuns >= 2 && failedRuns <= 8,
        `retried with backoff, not in a loop (${failedRuns} runs in 3 s)`,
      );
      const warnings = logs.filter(
        (l) => l.includes('"level":"warn"') && l.includes('cannot get credentials'),
      );
      assert.equal(warnings.length, 1, 'one warning per distinct failure');
      assert.match(warnings[0]!, /refresh token was revoked/);
      issuer.setMode('ok');
      const recovering = Date.now();
      await cp.client().create(CONFIGMAP, {
        metadata: { name: 'after-recovery', namespace: 'default', labels: { test: 'recover' } },
      });
      await waitFor(() => !!informer.get('after-recovery', 'default'), 15_000, 'the informer to recover');
      t.diagnostic(
        `${failedRuns} plugin runs in 3 s of failure; recovered ${Date.now() - recovering} ms after the fix`,
      );
      assert.ok(logs.some((l) => l.includes('exec credential plugin works again')));
    } finally {
      await informer.stop();
    }

    issuer.setMode('hang');
    const started = Date.now();
    const hung = await client(configFor('hanging', 1500))
      .list(CONFIGMAP, { namespace: 'default' })
      .catch((e: unknown) => e);
    const took = Date.now() - started;
    assert.ok(hung instanceof ExecCredentialError);
    assert.match(hung.message, /^exec plugin '.*hanging' did not finish within 1\.5s and was killed$/);
    assert.ok(took >= 1400 && took < 5000, `bounded (${took} ms)`);
    const hungRun = issuer.runs().find((r) => r.hung && r.args.includes('hanging'))!;
    await waitFor(() => !alive(hungRun.pid), 2000, 'the hung plugin to be killed');

    issuer.setMode('garbage');
    const garbage = await client(configFor('garbage'))
      .list(CONFIGMAP, { namespace: 'default' })
      .catch((e: unknown) => e);
    assert.ok(garbage instanceof ExecCredentialError);
    assert.match(
      garbage.message,
      /^exec plugin '.*garbage' printed an invalid ExecCredential: its output is not JSON$/,
    );
    issuer.setMode('ok');
  });

  it('a 401 to a fresh credential is refreshed once, then a clear error', async () => {
    const lookup = hook.review.bind(hook);
    hook.review = () => undefined; // the server refuses every token now
    try {
      const runs = () => issuer.runs().filter((r) => r.args.includes('refused')).length;
      const err = await client(configFor('refused'))
        .list(CONFIGMAP, { namespace: 'default' })
        .catch((e: unknown) => e);
      assert.ok(err instanceof UnauthorizedError, String(err));
      assert.match(err.message, /refused the credential from exec plugin '.*refused' again after a refresh$/);
      assert.equal(runs(), 2, 'the first credential and exactly one refresh');
    } finally {
      hook.review = lookup;
    }
  });
});
