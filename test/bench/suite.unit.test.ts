/** The suite's pure parts: request counting from an audit log, /proc sampling, the table and its ratios. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AuditCounter } from '../../bench/harness/audit.ts';
import { percentiles } from '../../bench/harness/load.ts';
import { sampleProc } from '../../bench/harness/procstat.ts';
import { renderTable } from '../../bench/harness/report.ts';
import { combineRounds, median, roundOrder } from '../../bench/harness/rounds.ts';

const ev = (id: string, verb: string, resource: string, subresource?: string, stage = 'ResponseComplete') =>
  `${JSON.stringify({ auditID: id, stage, verb, objectRef: { resource, subresource } })}\n`;

describe('bench suite', () => {
  it('counts each audited request once, by verb and resource, only after the mark', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-audit-'));
    try {
      const a = new AuditCounter(join(dir, 'audit.log'));
      assert.equal(a.mark(), 0, 'no log yet');
      writeFileSync(a.path, ev('0', 'create', 'instances'));
      const m = a.mark();
      appendFileSync(
        a.path,
        ev('1', 'patch', 'instances') +
          ev('2', 'patch', 'instances', 'status') +
          ev('3', 'watch', 'secrets', undefined, 'ResponseStarted') +
          ev('3', 'watch', 'secrets') +
          ev('4', 'create', 'events') +
          ev('5', 'list', 'providerconfigs'),
      );
      // The API server may be half-way through a line: it is left for the next window.
      appendFileSync(a.path, '{"auditID":"6","verb":"pat');
      const c = a.since(m);
      assert.equal(c.total, 5);
      assert.equal(c.writes, 3);
      assert.deepEqual(c.byVerb, { patch: 2, watch: 1, create: 1, list: 1 });
      assert.equal(c.byResource['patch instances/status'], 1);
      assert.equal(c.byResource['create events'], 1);
      const m2 = a.mark();
      appendFileSync(a.path, 'ch","objectRef":{"resource":"instances"}}\n');
      assert.equal(a.since(m2).total, 1, 'the cut line is counted in the window where it completes');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads CPU seconds and RSS of a live process from /proc', () => {
    const s = sampleProc(process.pid);
    assert.ok(s.rssBytes > 10 * 2 ** 20 && s.peakRssBytes >= s.rssBytes, JSON.stringify(s));
    assert.ok(s.cpuSeconds > 0);
  });

  it('takes percentiles per key from start and end times', () => {
    const start = new Map(Array.from({ length: 100 }, (_, i) => [`k${i}`, 1000]));
    const end = new Map(Array.from({ length: 100 }, (_, i) => [`k${i}`, 1000 + i + 1]));
    assert.deepEqual(percentiles(start, end), { p50: 51, p99: 100 });
  });

  it('renders each scenario with our figures as ratios to both baselines', () => {
    const storm = (wallSeconds: number, patches: number) => ({
      n: 10,
      wallSeconds,
      requests: { byResource: { 'patch instances': patches } },
    });
    const t = renderTable({
      date: '2026-01-01T00:00:00.000Z',
      quick: true,
      machine: {},
      settings: {},
      notes: ['go baseline skipped'],
      subjects: {
        ours: { scenarios: { createStorm10: storm(6, 20), idle: { n: 10, rssMiB: 240 } } },
        go: { scenarios: { createStorm10: storm(3, 10), idle: { n: 10, rssMiB: 120 } } },
        floor: { scenarios: { createStorm10: storm(2, 10) }, error: 'Error: boom\n at x' },
      },
    });
    assert.match(t, /### create storm: creation → Programmed\+Running, N=10/);
    assert.match(t, /\| ours \/ go \| 2\.00x \|/);
    assert.match(t, /\| ours \/ floor \| 3\.00x \|/);
    assert.match(t, /### idle at scale[\s\S]*\| ours \/ go \| – \| 2\.00x \|/);
    assert.match(t, /- ours: patch instances 2\.00/);
    assert.match(t, /note: go baseline skipped/);
    assert.match(t, /floor FAILED: Error: boom$/m);
  });

  it('rotates the subjects each round and reports the median of every figure', () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((r) => roundOrder(['ours', 'go', 'floor'], r).join(',')),
      ['ours,go,floor', 'go,floor,ours', 'floor,ours,go', 'ours,go,floor'],
    );
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    const round = (wall: number) => ({
      scenarios: { createStorm1000: { wallSeconds: wall, byResource: { 'patch instances': wall } } },
    });
    const c = combineRounds([round(10), round(7), round(8)]);
    assert.equal(c.scenarios.createStorm1000!.wallSeconds, 8);
    assert.deepEqual(c.scenarios.createStorm1000!.byResource, { 'patch instances': 10 }, 'the first round’s');
    assert.equal(c.rounds?.length, 3, 'every round kept');
    assert.equal(combineRounds([round(5)]).scenarios.createStorm1000!.wallSeconds, 5);
  });
});
