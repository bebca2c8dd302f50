import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { ControlPlane } from '../../src/testkit/index.ts';

const CHILD = new URL('./fixtures/manager-child.ts', import.meta.url).pathname;
interface Line {
  ev: string;
  t: number;
  id: string;
  name?: string;
  clean?: boolean;
  port?: number;
}

function startChild(
  kubeconfig: string,
  id: string,
  reconcileMs = 0,
): { proc: ChildProcess; lines: Line[]; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, [CHILD, kubeconfig, id, String(reconcileMs)], {
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

describe('leader election and shutdown', () => {
  let cp: ControlPlane;
  before(async () => {
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
  });

  it('exactly one of two managers reconciles; killing the leader hands over within the lease; periods never overlap', async () => {
    const a = startChild(cp.kubeconfigPath, 'a');
    const b = startChild(cp.kubeconfigPath, 'b');
    try {
      await until(() => [...a.lines, ...b.lines].some((l) => l.ev === 'leading'), 30_000, 'a leader');
      const [leader, follower] = a.lines.some((l) => l.ev === 'leading') ? [a, b] : [b, a];
      await until(() => leader.lines.some((l) => l.ev === 'reconcile-end'), 10_000, 'leader reconciles');
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(
        follower.lines.filter((l) => l.ev.startsWith('reconcile')).length,
        0,
        'the follower never reconciles',
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
    } finally {
      a.proc.kill('SIGKILL');
      b.proc.kill('SIGKILL');
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
    // Released lease: a newcomer leads within a couple of retry periods, not a whole lease duration.
    const d = startChild(cp.kubeconfigPath, 'd');
    const t0 = Date.now();
    try {
      await until(() => d.lines.some((l) => l.ev === 'leading'), 15_000, 'newcomer leads');
      assert.ok(Date.now() - t0 < 3500, 'released lease taken over quickly');
    } finally {
      d.proc.kill('SIGKILL');
    }
  });
});
