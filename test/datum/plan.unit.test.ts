/** The plan's outputs: the table (with projects in Milo mode), `--output json`, and the exit codes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPlan, type PlanLine, planExitCode, planJson } from '../../src/datum/plan.ts';

const line = (cluster: string, name: string, action: string, details: string[] = []): PlanLine => ({
  kind: 'Instance',
  cluster,
  namespace: 'work',
  name,
  action,
  details,
});

describe('plan output', () => {
  const lines = [
    line('proj-a', 'web', 'none'),
    line('proj-b', 'api', 'update', ['instance type: a → b']),
    {
      kind: 'Project' as const,
      cluster: 'proj-c',
      namespace: '',
      name: 'proj-c',
      action: 'error',
      details: ['x'],
    },
  ];

  it('names the project of each line in Milo mode, and nothing more in single mode', () => {
    assert.equal(
      formatPlan(lines, { projects: true }),
      'Instance work/web in project proj-a: nothing to do\n' +
        'Instance work/api in project proj-b: update\n    instance type: a → b\n' +
        'Project proj-c: error\n    x\n',
    );
    assert.equal(formatPlan([line('single', 'web', 'create')]), 'Instance work/web: create\n');
    assert.equal(formatPlan([]), 'No Instances served by this provider.\n');
  });

  it('--output json: one object per line with cluster, namespace, name, action, details', () => {
    const parsed = JSON.parse(planJson(lines.slice(0, 2)));
    assert.deepEqual(parsed[1], {
      kind: 'Instance',
      cluster: 'proj-b',
      namespace: 'work',
      name: 'api',
      action: 'update',
      details: ['instance type: a → b'],
    });
  });

  it('exit codes: 1 on an error; with --exit-code 2 for a pending change, 0 otherwise', () => {
    assert.equal(planExitCode(lines, true), 1);
    assert.equal(planExitCode(lines.slice(0, 2), false), 0);
    assert.equal(planExitCode(lines.slice(0, 2), true), 2);
    for (const a of ['create', 'delete', 'adopt']) assert.equal(planExitCode([line('p', 'w', a)], true), 2);
    for (const a of ['none', 'refused', 'waiting', 'unsupported', 'skipped'])
      assert.equal(planExitCode([line('p', 'w', a)], true), 0, a);
  });
});
