/**
 * A SIGTERM during start-up ends it cleanly: noted while modules load, then the provider stops before its
 * manager starts (exit 0 instead of dying by the signal). No cluster is needed: nothing connects before start.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { noteEarlySignals } from '../../src/cli/early-signals.ts';
import { startProvider } from '../../src/cli/provider.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';

describe('signals during start-up', () => {
  it('are noted until released, and keep the process alive meanwhile', () => {
    const others = process.listeners('SIGTERM');
    const early = noteEarlySignals();
    // Call our listener directly: emitting a real SIGTERM here would reach the test runner's own handler too.
    const ours = process.listeners('SIGTERM').filter((l) => !others.includes(l));
    assert.equal(ours.length, 1, 'one listener: the process no longer dies by SIGTERM');
    (ours[0] as (s: NodeJS.Signals) => void)('SIGTERM');
    assert.equal(early.received(), 'SIGTERM');
    early.release();
    assert.deepEqual(process.listeners('SIGTERM'), others, 'the listener is gone after release');
  });

  it('make the provider stop before its manager starts, reporting a clean stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'early-signals-'));
    try {
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]\n' +
          'users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
      );
      const lines: string[] = [];
      const early = { received: () => 'SIGTERM' as const, release: () => {} };
      const running = await startProvider(defaultSettings(), {
        kubeconfig,
        early,
        handleSignals: false,
        log: createLogger({ level: 'info', sink: (l) => lines.push(l) }),
      });
      assert.equal(await running.stopped, true, 'a clean stop');
      assert.ok(lines.some((l) => l.includes('shutting down before start')));
      assert.ok(!lines.some((l) => l.includes('provider started')), 'the manager never started');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
