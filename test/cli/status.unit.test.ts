import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStatus } from '../../src/cli/status.ts';
import type { Instance, Workload } from '../../src/datum/api/types.ts';
import { instanceRow, renderTable } from '../../src/localenv/progress.ts';

const cond = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message = '') => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});
const inst = (
  name: string,
  workloadUid: string,
  conditions: ReturnType<typeof cond>[],
  ip?: string,
): Instance => ({
  metadata: { name, namespace: 'default', labels: { 'compute.datumapis.com/workload-uid': workloadUid } },
  spec: {
    runtime: { resources: { instanceType: 't' } },
    networkInterfaces: [{ network: { name: 'default' } }],
    location: { name: 'dfw-1', namespace: 'default' },
  },
  status: { conditions, networkInterfaces: ip ? [{ assignments: { networkIP: ip } }] : [] },
});

describe('status at a glance', () => {
  it('groups Instances by Workload and says why one is not ready', () => {
    const workloads = [
      {
        metadata: { name: 'web', namespace: 'default', uid: 'w1' },
        spec: { template: { spec: {} }, placements: [] },
      } as unknown as Workload,
    ];
    const out = formatStatus(
      [
        inst(
          'web-0',
          'w1',
          [
            cond('Programmed', 'True', 'Programmed'),
            cond('Running', 'True', 'Running'),
            cond('Ready', 'True', 'Running'),
          ],
          '10.128.0.2',
        ),
        inst('web-1', 'w1', [
          cond('Programmed', 'False', 'UnknownInstanceType', "instance type 't' is not offered"),
          cond('Ready', 'Unknown', 'UnknownInstanceType'),
        ]),
        inst('stray', 'nope', []),
      ],
      workloads,
    );
    assert.match(out, /^Workload default\/web$/m);
    assert.match(out, /default\/web-0 .*Ready=True .*ip=10\.128\.0\.2/);
    assert.match(out, /not ready: Programmed UnknownInstanceType: instance type 't' is not offered/);
    assert.match(out, /^Workload \(no workload\)$/m);
  });

  it('renders an aligned Instances table', () => {
    const table = renderTable([
      instanceRow(inst('web-0', 'w1', [cond('Ready', 'True', 'Running')], '10.128.0.2')),
    ]);
    const [head, row] = table.split('\n');
    assert.equal(head!.indexOf('READY'), row!.indexOf('True'));
  });
});

describe('status in a cell (cell generation)', () => {
  it('groups by WorkloadDeployment and shows Available instead of Running', () => {
    const out = formatStatus(
      [
        {
          metadata: {
            name: 'web-0',
            namespace: 'ns-1',
            labels: { 'compute.datumapis.com/workload-deployment-name': 'web-dallas' },
          },
          spec: {
            location: { name: 'dfw' },
            runtime: { resources: { instanceType: 't' } },
            networkInterfaces: [],
          },
          status: {
            conditions: [
              {
                type: 'Programmed',
                status: 'True',
                reason: 'Programmed',
                message: '',
                lastTransitionTime: '',
              },
              {
                type: 'Available',
                status: 'False',
                reason: 'Starting',
                message: 'Instance is starting',
                lastTransitionTime: '',
              },
              { type: 'Ready', status: 'False', reason: 'Starting', message: '', lastTransitionTime: '' },
            ],
          },
        } as unknown as Instance,
      ],
      [],
    );
    assert.match(out, /^WorkloadDeployment ns-1\/web-dallas$/m);
    assert.match(out, /ns-1\/web-0 {2}location=dfw {2}Programmed=True {2}Available=False {2}Ready=False/);
    assert.match(out, /not ready: Available Starting: Instance is starting/);
  });
});
