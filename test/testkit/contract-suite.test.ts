/**
 * The contract suite as a provider author meets it: run as `node --test <file>` (no --test-force-exit) in a
 * child process, against deliberately broken backends (test/testkit/fixtures/) and, for the exit check, a
 * tiny green selection of the in-memory suite. Checks that failures come fast (well under the 60 s wait
 * timeout) and say why (reason and message), that later tests name the earlier failure, and that the process
 * exits promptly after its last hook.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BROKEN_MESSAGE } from './fixtures/broken-backend.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = 'test/testkit/fixtures';
/** Every failing test must end well within the suite's 60 s wait timeout. */
const FAST_MS = 20_000;
/** From the last `after` hook to process exit: nothing may keep the event loop alive. */
const EXIT_MS = 5_000;

interface TapTest {
  title: string;
  ok: boolean;
  skipped: boolean;
  durationMs: number;
  block: string;
}

interface Run {
  code: number | null;
  output: string;
  tests: TapTest[];
  /** Milliseconds from the fixture's last top-level `after` hook to the child's exit. */
  lingerMs: number;
}

const dir = mkdtempSync(join(tmpdir(), 'contract-suite-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function runSuite(file: string, extraArgs: string[] = []): Promise<Run> {
  const mark = join(dir, `${file.replace(/\W/g, '_')}.mark`);
  const child = spawn(process.execPath, ['--test', '--test-reporter=tap', ...extraArgs, file], {
    cwd: ROOT,
    // Without the runner's NODE_TEST_CONTEXT the child reports as a top-level `node --test` (TAP here).
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, CONTRACT_SUITE_MARK: mark },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  // A hang must fail this test, not hold it: the child is killed after a generous bound.
  const killer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const exitedAt = Date.now();
      clearTimeout(killer);
      let marked = Number.NaN;
      try {
        marked = Number(readFileSync(mark, 'utf8'));
      } catch {}
      resolve({ code, output, tests: parseTap(output), lingerMs: exitedAt - marked });
    });
  });
}

/** The tests (not suites) of a TAP report, each with its YAML block. */
function parseTap(out: string): TapTest[] {
  const lines = out.split('\n');
  const tests: TapTest[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s+)(not ok|ok) \d+ - (.*?)(?: # SKIP.*)?$/.exec(lines[i]!);
    if (!m) continue;
    const body: string[] = [];
    for (let j = i + 1; j < lines.length && !/^\s*\.\.\.$/.test(lines[j]!); j++) body.push(lines[j]!);
    const block = body.join('\n');
    if (!/type: 'test'/.test(block)) continue;
    tests.push({
      title: m[3]!,
      ok: m[2] === 'ok',
      skipped: / # SKIP/.test(lines[i]!),
      durationMs: Number(/duration_ms: ([\d.]+)/.exec(block)?.[1] ?? Number.NaN),
      block,
    });
  }
  return tests;
}

function assertFailsFast(run: Run, reason: string, message: string, firstInstance: string): void {
  const failed = run.tests.filter((t) => !t.ok);
  assert.ok(failed.length >= 3, `several tests fail against a broken backend:\n${run.output.slice(-4000)}`);
  assert.notEqual(run.code, 0, 'the run fails');
  for (const t of failed) {
    assert.ok(t.durationMs < FAST_MS, `"${t.title}" took ${t.durationMs} ms:\n${t.block}`);
    assert.match(t.block, new RegExp(reason), `"${t.title}" names the reason:\n${t.block}`);
    assert.ok(t.block.includes(message), `"${t.title}" carries the backend's message:\n${t.block}`);
    assert.doesNotMatch(t.block, /timed out|Expected values to be strictly equal/, t.title);
  }
  const first = failed[0]!;
  assert.ok(
    first.block.includes(`Instance project-a/${firstInstance}: waited for Programmed=True and Running=True`),
    first.block,
  );
  assert.match(first.block, /all conditions: Programmed=False/);
  const cascaded = failed.filter((t) => /skipped because no Instance ever became Programmed/.test(t.block));
  assert.ok(cascaded.length >= 2, 'later tests name the earlier failure');
  assert.ok(run.lingerMs < EXIT_MS, `exited ${run.lingerMs} ms after its last hook`);
}

describe('the contract suite itself', { concurrency: true, timeout: 300_000 }, () => {
  it('fails fast and says why when ensureInstance throws a non-retryable InvalidConfiguration', async () => {
    const run = await runSuite(`${FIXTURES}/suite-invalid-configuration.fixture.ts`);
    assertFailsFast(run, 'InvalidConfiguration', BROKEN_MESSAGE, 'web-0');
    assert.match(run.output, /the backend marked this failure non-retryable/);
    const ok = run.tests.filter((t) => t.ok && !t.skipped).map((t) => t.title);
    assert.ok(
      ok.includes('programs the NetworkContext and Subnet of our Location'),
      'networking still passes',
    );
  });

  it('fails fast and says why when the backend offers no runtime the suite asks for', async () => {
    const run = await runSuite(`${FIXTURES}/suite-no-runtimes.fixture.ts`);
    // Without a sandbox runtime the suite's plain Instances are VMs: vm-0 is the first one awaited.
    assertFailsFast(run, 'UnsupportedRuntime', 'the virtualMachine runtime is not supported', 'vm-0');
  });

  it('exits promptly after a green run without --test-force-exit (crash test included)', async () => {
    const run = await runSuite(`${FIXTURES}/suite-green-tiny.fixture.ts`, [
      '--test-name-pattern=programs the NetworkContext|survives a crash',
    ]);
    assert.equal(run.code, 0, run.output.slice(-4000));
    const passed = run.tests.filter((t) => t.ok && !t.skipped).map((t) => t.title);
    assert.equal(passed.length, 2, `networking and the crash test ran: ${passed.join('; ')}`);
    assert.ok(run.lingerMs < EXIT_MS, `exited ${run.lingerMs} ms after its last hook`);
  });
});
