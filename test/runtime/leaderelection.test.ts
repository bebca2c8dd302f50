import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toKubeconfigYaml } from '../../src/runtime/client/config.ts';
import { LEASE } from '../../src/runtime/leaderelection/leaderelection.ts';
import { ControlPlane } from '../../src/testkit/index.ts';
import { startBlackholeProxy } from './fixtures/blackhole-proxy.ts';

const CHILD = new URL('./fixtures/manager-child.ts', import.meta.url).pathname;
interface Line {
  ev: string;
  t: number;
  id: string;
  name?: string;
  clean?: boolean;
  port?: number;
  reason?: string;
  aborted?: boolean;
}
interface ChildOptions {
  lease?: string;
  graceMs?: number;
  cleanupMs?: number;
  file?: string;
}

function startChild(
  kubeconfig: string,
  id: string,
  reconcileMs = 0,
  opts: ChildOptions = {},
): { proc: ChildProcess; lines: Line[]; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, [CHILD, kubeconfig, id, String(reconcileMs), JSON.stringify(opts)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Line[] = [];
  let buf = '';
  proc.stdout!.on('data', (d) => {
    buf += d;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
  });
  const exit = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return { proc, lines, exit };
}

async function until(fn: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with `p`, or with `fallback` after `ms`. */
function orAfter<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return Promise.race([p, new Promise<T>((r) => setTimeout(r, ms, fallback))]);
}

/**
 * Every stored version of a Lease, with when this process saw it. Renewals are writes, so a test can wait for
 * "the leader renewed N times while X was running" instead of sleeping and hoping X had its chance.
 */
function watchLease(cp: ControlPlane, name: string) {
  const abort = new AbortController();
  const seen: { t: number; holder: string; renewTime: string }[] = [];
  const done = (async () => {
    const stream = cp
      .client()
      .watch<{ metadata: object; spec?: { holderIdentity?: string; renewTime?: string } }>(LEASE, {
        namespace: 'default',
        fieldSelector: `metadata.name=${name}`,
        signal: abort.signal,
      });
    for await (const ev of stream) {
      if (ev.type === 'BOOKMARK') continue;
      seen.push({
        t: Date.now(),
        holder: ev.object.spec?.holderIdentity ?? '',
        renewTime: ev.object.spec?.renewTime ?? '',
      });
    }
  })().catch(() => {});
  return {
    seen,
    /** Distinct renewals by `holder` seen after `since` (ms epoch). */
    renewals(holder: string, since: number): number {
      return new Set(seen.filter((e) => e.holder === holder && e.t > since).map((e) => e.renewTime)).size;
    },
    async stop() {
      abort.abort();
      await done;
    },
  };
}

describe('leader election and shutdown', () => {
  let cp: ControlPlane;
  let tmp: string;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'leaderelection-'));
    cp = await ControlPlane.start();
    await cp
      .client()
      .create(
        { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
        { metadata: { name: 'work', namespace: 'default' } },
      );
  });
  after(async () => {
    await cp?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('exactly one of two managers reconciles; killing the leader hands over within the lease; periods never overlap', async () => {
    const lease = watchLease(cp, 'test-lock');
    const a = startChild(cp.kubeconfigPath, 'a');
    const b = startChild(cp.kubeconfigPath, 'b');
    try {
      await until(() => [...a.lines, ...b.lines].some((l) => l.ev === 'leading'), 30_000, 'a leader');
      const [leader, follower] = a.lines.some((l) => l.ev === 'leading') ? [a, b] : [b, a];
      await until(() => leader.lines.some((l) => l.ev === 'reconcile-end'), 10_000, 'leader reconciles');
      await until(() => follower.lines.some((l) => l.ev === 'probes'), 30_000, 'follower started');
      // The follower's manager is up (caches synced, campaigning every 500 ms). Three renewals by the leader
      // after that (watched Lease writes, every 500 ms) bound the window in which the follower had to stay idle.
      const followerUp = follower.lines.find((l) => l.ev === 'probes')!.t;
      const leaderId = leader.lines[0]!.id;
      await until(() => lease.renewals(leaderId, followerUp) >= 3, 15_000, 'leader renews 3 times');
      assert.equal(
        follower.lines.filter((l) => l.ev.startsWith('reconcile')).length,
        0,
        'the follower does not reconcile while the leader renews',
      );
      const probe = async (who: typeof a, path: string) => {
        const port = who.lines.find((l) => l.ev === 'probes')?.port;
        return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
      };
      assert.deepEqual(
        [await probe(leader, '/readyz'), await probe(follower, '/readyz')],
        [200, 200],
        'both replicas are ready',
      );
      assert.deepEqual(
        [await probe(leader, '/readyz/leader'), await probe(follower, '/readyz/leader')],
        [200, 503],
        'only the leader runs leader-only work',
      );
      const lastLeaderWork = () =>
        Math.max(...leader.lines.filter((l) => l.ev === 'reconcile-end').map((l) => l.t));
      leader.proc.kill('SIGKILL');
      const killedAt = Date.now();
      await until(() => follower.lines.some((l) => l.ev === 'leading'), 15_000, 'takeover');
      const takeoverMs = follower.lines.find((l) => l.ev === 'leading')!.t - killedAt;
      assert.ok(takeoverMs <= 4000 + 1500, `takeover took ${takeoverMs} ms (lease 4000 ms)`);
      const firstFollowerWork = Math.min(
        ...follower.lines
          .filter((l) => l.ev === 'reconcile-start')
          .map((l) => l.t)
          .concat([Date.now() + 1e9]),
      );
      await until(
        () => follower.lines.some((l) => l.ev === 'reconcile-start'),
        10_000,
        'follower reconciles',
      );
      assert.ok(
        lastLeaderWork() <
          Math.min(firstFollowerWork, follower.lines.find((l) => l.ev === 'reconcile-start')!.t),
        'leadership periods do not overlap',
      );
      const followerStarts = follower.lines.filter((l) => l.ev === 'reconcile-start').map((l) => l.t);
      assert.ok(
        Math.min(...followerStarts) > killedAt,
        'the follower never reconciled while the leader lived',
      );
    } finally {
      a.proc.kill('SIGKILL');
      b.proc.kill('SIGKILL');
      await lease.stop();
    }
  });

  it('SIGTERM during a reconcile lets it finish, releases the lease and exits 0 within the bound', async () => {
    const c = startChild(cp.kubeconfigPath, 'c', 2000);
    await until(() => c.lines.some((l) => l.ev === 'reconcile-start'), 30_000, 'reconcile started');
    const sentAt = Date.now();
    c.proc.kill('SIGTERM');
    const code = await c.exit;
    const elapsed = Date.now() - sentAt;
    assert.equal(code, 0);
    assert.ok(elapsed < 12_000, `shutdown took ${elapsed} ms`);
    const starts = c.lines.filter((l) => l.ev === 'reconcile-start').length;
    const ends = c.lines.filter((l) => l.ev === 'reconcile-end').length;
    assert.equal(ends, starts, 'the in-flight reconcile finished');
    assert.equal(c.lines.find((l) => l.ev === 'exit')?.clean, true);
    // Released lease: the record says nobody holds it (read from the API server, not inferred from timing, which
    // a loaded machine distorts), and a newcomer leads on its first campaign (within one retry period of its
    // start, not a lease duration).
    const released = await cp.client().get(LEASE, 'test-lock', 'default');
    assert.equal(released.spec?.holderIdentity ?? '', '', 'the lease is released on exit');
    const d = startChild(cp.kubeconfigPath, 'd');
    try {
      await until(() => d.lines.some((l) => l.ev === 'leading'), 15_000, 'newcomer leads');
      const started = d.lines.find((l) => l.ev === 'probes')?.t ?? Number.POSITIVE_INFINITY;
      const leading = d.lines.find((l) => l.ev === 'leading')!.t;
      assert.ok(
        leading - started < 2000,
        `newcomer led ${leading - started} ms after it started campaigning`,
      );
    } finally {
      d.proc.kill('SIGKILL');
    }
  });

  it('a leader whose API server hangs stops all work before its lease can expire and exits non-zero', async () => {
    // The leader talks to the API server through a proxy we black-hole; the follower talks to it directly.
    const proxy = await startBlackholeProxy(Number(new URL(cp.connection.server).port));
    const proxiedKubeconfig = join(tmp, 'proxied.kubeconfig');
    writeFileSync(
      proxiedKubeconfig,
      toKubeconfigYaml({ ...cp.connection, server: `https://127.0.0.1:${proxy.port}` }),
    );
    const file = join(tmp, 'cut-reconciles.jsonl');
    const opts = { lease: 'cut-lock', file };
    const lease = watchLease(cp, 'cut-lock');
    // Reconciles of 400 ms back to back (5 ConfigMaps, one worker): one is nearly always in flight.
    const a = startChild(proxiedKubeconfig, 'cut-a', 400, opts);
    let aExitedAt = 0;
    void a.exit.then(() => {
      aExitedAt = Date.now();
    });
    let b: ReturnType<typeof startChild> | undefined;
    try {
      await until(() => a.lines.some((l) => l.ev === 'reconcile-end'), 30_000, 'a leads and reconciles');
      b = startChild(cp.kubeconfigPath, 'cut-b', 400, opts);
      const follower = b;
      await until(() => follower.lines.some((l) => l.ev === 'probes'), 30_000, 'b started');
      // b has campaigned against a's renewals (watched Lease writes) for a couple of retry periods.
      const bUp = follower.lines.find((l) => l.ev === 'probes')!.t;
      await until(() => lease.renewals('cut-a', bUp) >= 2, 15_000, 'a renews while b is up');
      assert.equal(b.lines.filter((l) => l.ev === 'reconcile-start').length, 0, 'b follows');
      const cutAt = Date.now();
      proxy.blackhole();
      await until(() => follower.lines.some((l) => l.ev === 'reconcile-start'), 20_000, 'b takes over');
      const code = await orAfter<number | null | 'still running'>(a.exit, 10_000, 'still running');
      // Without an exit of its own, it "runs" until we kill it now.
      const exitedAt = code === 'still running' ? Date.now() : aExitedAt;
      if (code === 'still running') a.proc.kill('SIGKILL');
      // Timestamps taken inside the reconciles. A reconcile of a still running without an end counts as
      // running until we killed it.
      const recs = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Line);
      const of = (id: string, ev: string) => recs.filter((r) => r.id === id && r.ev === ev).map((r) => r.t);
      const aStarts = of('cut-a', 'reconcile-start');
      const aEnds = of('cut-a', 'reconcile-end');
      const lastA = aStarts.length > aEnds.length ? exitedAt : Math.max(...aEnds);
      const firstB = Math.min(...of('cut-b', 'reconcile-start'));
      const aborted = recs.filter((r) => r.id === 'cut-a' && r.aborted).length;
      process.stderr.write(
        `# cut at 0 ms: a's last reconcile ended at ${lastA - cutAt} ms (${aborted} aborted), a exited ${code === 'still running' ? 'NEVER' : `at ${exitedAt - cutAt} ms`}, b's first reconcile started at ${firstB - cutAt} ms\n`,
      );
      assert.ok(lastA < firstB, `leadership periods overlap by ${lastA - firstB} ms`);
      assert.notEqual(code, 'still running', 'the old leader exits on its own');
      assert.equal(code, 1, 'and non-zero, so its Deployment restarts it');
      assert.equal(a.lines.find((l) => l.ev === 'exit')?.reason, 'lost-leadership');
      assert.ok(exitedAt - cutAt < 3000 + 500 + 2500, `exited ${exitedAt - cutAt} ms after the cut`);
    } finally {
      a.proc.kill('SIGKILL');
      b?.proc.kill('SIGKILL');
      await proxy.close();
      await lease.stop();
    }
  });

  it('a graceful stop releases the lease only after the last reconcile has returned', async () => {
    // Watch the Lease from here: the time its holder is cleared is when a successor could start.
    const watchAbort = new AbortController();
    const seen: { t: number; holder: string }[] = [];
    const watching = (async () => {
      const stream = cp.client().watch<{ metadata: object; spec?: { holderIdentity?: string } }>(LEASE, {
        namespace: 'default',
        fieldSelector: 'metadata.name=slow-lock',
        signal: watchAbort.signal,
      });
      for await (const ev of stream) {
        if (ev.type === 'BOOKMARK') continue;
        seen.push({ t: Date.now(), holder: ev.object.spec?.holderIdentity ?? '' });
      }
    })().catch(() => {});
    // A 5 s reconcile, a 1 s grace period, and 1 s for the aborted reconcile to wind down.
    const c = startChild(cp.kubeconfigPath, 'slow', 5000, {
      lease: 'slow-lock',
      graceMs: 1000,
      cleanupMs: 1000,
    });
    try {
      await until(() => c.lines.some((l) => l.ev === 'reconcile-start'), 30_000, 'reconcile started');
      await until(() => seen.some((e) => e.holder === 'slow'), 5000, 'lease seen held');
      c.proc.kill('SIGTERM');
      const code = await orAfter(c.exit, 20_000, null);
      const exitedAt = Date.now();
      // Generous on a loaded machine; on a miss, say what the Lease holds now.
      await until(() => seen.some((e) => e.holder === ''), 15_000, 'lease released').catch(async (err) => {
        const now = await cp
          .client()
          .get(LEASE, 'slow-lock', 'default')
          .catch((e) => e);
        throw new Error(
          `${(err as Error).message}; exit code ${code}; the Lease now: ${JSON.stringify(now?.spec ?? now)}`,
        );
      });
      const releasedAt = seen.find((e) => e.holder === '')!.t;
      const starts = c.lines.filter((l) => l.ev === 'reconcile-start');
      const ends = c.lines.filter((l) => l.ev === 'reconcile-end');
      // A reconcile that never returned ran until its process was gone.
      const lastEnd = starts.length > ends.length ? exitedAt : Math.max(...ends.map((l) => l.t));
      process.stderr.write(`# lease released ${releasedAt - lastEnd} ms after the last reconcile ended\n`);
      assert.ok(releasedAt >= lastEnd, `lease released ${lastEnd - releasedAt} ms before a reconcile ended`);
      assert.equal(ends.length, starts.length, 'every reconcile returned before the process exited');
      assert.equal(ends.at(-1)?.aborted, true, 'the slow reconcile was aborted after the grace period');
      assert.equal(code, 1, 'not a clean stop: the grace period was exceeded');
    } finally {
      c.proc.kill('SIGKILL');
      watchAbort.abort();
      await watching;
    }
  });
});
