/**
 * The cell generation end to end: `run --generation cell` (what `make run ARGS="--generation cell"` runs),
 * non-interactively, on the in-memory backend (state in the data folder) and on AWS (moto, read through the
 * EC2 API). The sandbox and VM example
 * Instances must become Ready (written by the standalone cell upstream, never by the provider); suspending
 * a deployment must stop its instances on the backend and resuming must bring them back; deleting the
 * deployments must leave nothing on the backend; SIGTERM must stop everything.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { TAG_ID, TAG_NAME } from '../../src/backends/aws/tags.ts';
import type { CellInstance } from '../../src/datum/api/cell-types.ts';
import { INSTANCE, WORKLOAD_DEPLOYMENT } from '../../src/datum/api/resources.ts';
import { SUSPEND_ANNOTATION } from '../../src/localenv/upstream/cell/deployment.ts';
import { createClient } from '../../src/runtime/client/client.ts';
import { loadKubeconfig } from '../../src/runtime/client/config.ts';
import { instanceVersions, readyChanges } from './audit.ts';
import { eventually, processesUsing } from './getting-started.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const NS = 'ns-9f1c2b7e-4d3a-4e8b-9a61-5c0d2e7f8a10';

/** What the backend holds: live instances (by upstream name, stopped or not) and every other resource. */
interface Held {
  instances: { name: string; stopped: boolean; env?: Record<string, string> }[];
  other: string[];
}

interface BackendUnderTest {
  name: string;
  held(out: string, dataDir: string): Promise<Held>;
}

const INMEMORY: BackendUnderTest = {
  name: 'inmemory',
  async held(_out, dataDir) {
    const file = join(dataDir, 'inmemory-state.json');
    if (!existsSync(file)) return { instances: [], other: [] };
    const s = JSON.parse(readFileSync(file, 'utf8')) as {
      instances: Record<
        string,
        {
          owner: { name: string };
          stoppedAt?: number;
          desired: { runtime: { containers?: { env: { name: string; value: string }[] }[] } };
        }
      >;
      subnets: Record<string, unknown>;
      networks: Record<string, unknown>;
    };
    return {
      instances: Object.values(s.instances).map((i) => ({
        name: i.owner.name,
        stopped: i.stoppedAt !== undefined,
        env: Object.fromEntries((i.desired.runtime.containers?.[0]?.env ?? []).map((e) => [e.name, e.value])),
      })),
      other: [...Object.keys(s.subnets), ...Object.keys(s.networks)],
    };
  },
};

/** Read from the emulator's EC2 API by our ownership tag, whatever installation wrote it. */
const AWS: BackendUnderTest = {
  name: 'aws',
  async held(out) {
    const endpoint = /^ec2-endpoint: (.+)$/m.exec(out)?.[1];
    if (!endpoint) throw new Error('no ec2-endpoint line in the output');
    const ec2 = new EC2Client({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' },
    });
    try {
      const ours = [{ Name: 'tag-key', Values: [TAG_ID] }];
      const live = (
        await ec2.send(
          new DescribeInstancesCommand({
            Filters: [
              ...ours,
              { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
            ],
          }),
        )
      ).Reservations!.flatMap((r) => r.Instances ?? []);
      const tag = (tags: { Key?: string; Value?: string }[] | undefined, k: string) =>
        tags?.find((t) => t.Key === k)?.Value ?? '';
      const vpcs = (await ec2.send(new DescribeVpcsCommand({ Filters: ours }))).Vpcs ?? [];
      const subnets = (await ec2.send(new DescribeSubnetsCommand({ Filters: ours }))).Subnets ?? [];
      const groups =
        (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: ours }))).SecurityGroups ?? [];
      return {
        instances: live.map((i) => ({ name: tag(i.Tags, TAG_NAME), stopped: i.State?.Name === 'stopped' })),
        other: [
          ...vpcs.map((v) => `vpc/${tag(v.Tags, TAG_ID)}`),
          ...subnets.map((v) => `subnet/${tag(v.Tags, TAG_ID)}`),
          ...groups.map((v) => `sg/${tag(v.Tags, TAG_ID)}`),
        ],
      };
    } finally {
      ec2.destroy();
    }
  },
};

const readyOf = (i: CellInstance | undefined) => i?.status?.conditions?.find((c) => c.type === 'Ready');

describe('cell generation end to end (run --generation cell)', { timeout: 900_000 }, () => {
  for (const b of [INMEMORY, AWS])
    it(`${b.name}: reaches Ready for sandbox and VM, suspends and resumes, deletes everything, leaves nothing`, async (t) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'cell-e2e-'));
      const auditLog = join(dataDir, 'audit.log');
      const held = () => b.held(out, dataDir);
      const started = Date.now();
      const child = spawn(
        process.execPath,
        [MAIN, 'run', '--generation', 'cell', '--backend', b.name, '--data-dir', dataDir],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DATUM_AUDIT_LOG: auditLog } },
      );
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        out += d;
      });
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      try {
        const kubeconfig = await eventually(
          async () => /^kubeconfig: (.+)$/m.exec(out)?.[1],
          `kubeconfig line (output so far: ${out})`,
          180_000,
        );
        assert.match(out, /^generation: cell$/m);
        assert.match(out, /^upstream: standalone cell$/m, 'it says which upstream runs');
        const client = createClient(loadKubeconfig(kubeconfig));
        const list = async () => (await client.list<CellInstance>(INSTANCE, { namespace: NS })).items;
        const instances = await eventually(
          async () => {
            const l = await list();
            return l.length === 3 &&
              l.every(
                (i) =>
                  readyOf(i)?.status === 'True' && i.status?.networkInterfaces?.[0]?.assignments?.networkIP,
              )
              ? l
              : undefined;
          },
          'all example Instances Ready with addresses',
          240_000,
        );
        t.diagnostic(`all 3 example Instances Ready ${Date.now() - started} ms after the command`);
        assert.deepEqual(instances.map((i) => i.metadata.name).sort(), [
          'vm-dallas-0',
          'web-dallas-0',
          'web-dallas-1',
        ]);
        for (const i of instances) {
          assert.equal(i.metadata.labels?.['compute.datumapis.com/runtime-class'], 'datum-provider-ts');
          assert.deepEqual(i.spec?.location, { name: 'dfw' });
          assert.equal(i.status?.controller?.observedTemplateHash, i.spec?.controller?.templateHash);
          assert.equal(i.status?.conditions?.find((c) => c.type === 'Available')?.status, 'True');
        }
        assert.equal((await held()).instances.length, 3, 'three instances on the backend');
        const webEnv = (await held()).instances.find((i) => i.name === 'web-dallas-0')?.env;
        if (webEnv)
          assert.equal(
            webEnv.GREETING,
            'hello from a datum cell',
            'envFrom the companion ConfigMap reached the backend',
          );
        assert.ok((await held()).other.length > 0, 'the namespace network is on the backend');

        // Suspend the sandbox deployment: its instances stop on the backend and stay there; Ready says so.
        const annotate = (value: string | null) =>
          client.patch(WORKLOAD_DEPLOYMENT, 'web-dallas', NS, {
            type: 'merge',
            patch: { metadata: { annotations: { [SUSPEND_ANNOTATION]: value } } },
          });
        await annotate('true');
        const web = async () => (await held()).instances.filter((i) => i.name.startsWith('web-'));
        await eventually(
          async () => {
            const w = await web();
            return w.length === 2 && w.every((i) => i.stopped);
          },
          'web instances stopped on the backend',
          60_000,
        );
        await eventually(
          async () =>
            (await list())
              .filter((i) => i.metadata.name!.startsWith('web-'))
              .every((i) => i.status?.suspended === true && readyOf(i)?.reason === 'Suspended'),
          'web Instances suspended and not Ready',
          60_000,
        );
        assert.equal((await held()).instances.length, 3, 'suspension keeps every instance');
        const vm = (await list()).find((i) => i.metadata.name === 'vm-dallas-0');
        assert.equal(readyOf(vm)?.status, 'True', 'the other deployment is untouched');
        await annotate(null);
        await eventually(
          async () => (await web()).every((i) => !i.stopped),
          'web instances started again on the backend',
          60_000,
        );
        await eventually(
          async () => (await list()).every((i) => readyOf(i)?.status === 'True' && !i.status?.suspended),
          'all Instances Ready again after the resume',
          60_000,
        );

        for (const wd of ['web-dallas', 'vm-dallas']) await client.delete(WORKLOAD_DEPLOYMENT, wd, NS);
        await eventually(async () => (await list()).length === 0, 'instances deleted', 120_000);
        const left = await eventually(
          async () => {
            const h = await held();
            return h.instances.length === 0 && h.other.length === 0 ? h : undefined;
          },
          `no backend resource left (instances, the namespace subnet and network): ${JSON.stringify(await held())}`,
          30_000,
        ).catch(async () => held());
        assert.deepEqual(left, { instances: [], other: [] }, 'no backend resource left');
        await client.close();
        // Ready is compute's: every change of it came from the standalone cell upstream, none from the provider.
        const changes = readyChanges(instanceVersions(auditLog));
        assert.ok(changes.length >= 6);
        assert.deepEqual(
          changes.filter((c) => c.userAgent.startsWith('datum-provider')),
          [],
          'the provider never wrote Ready',
        );
      } catch (err) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
        rmSync(dataDir, { recursive: true, force: true });
        throw new Error(`${(err as Error).message}\noutput:\n${out.slice(-3000)}`);
      }
      child.kill('SIGTERM');
      assert.equal(await exited, 0, `exit code 0 after SIGTERM; output:\n${out.slice(-3000)}`);
      await eventually(async () => processesUsing(dataDir).length === 0, 'no process left', 15_000);
      rmSync(dataDir, { recursive: true, force: true });
    });
});
