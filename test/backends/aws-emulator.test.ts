/**
 * The EC2 emulator itself (moto + our fault proxy), with the real SDK: ClientToken emulation, scripted
 * faults, state realism, reset, loopback-only binding, and no moto left behind when the test process dies.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { type Ec2Emulator, startEc2Emulator } from '../../src/localenv/emulators/moto/index.ts';

let emu: Ec2Emulator;
let ec2: EC2Client;
let subnetId: string;

const creds = { accessKeyId: 'x', secretAccessKey: 'x' };

before(async () => {
  emu = await startEc2Emulator();
  ec2 = new EC2Client({ region: emu.region, endpoint: emu.endpoint, credentials: creds, maxAttempts: 1 });
});
after(async () => {
  ec2?.destroy();
  await emu?.stop();
});
beforeEach(async () => {
  await emu.reset();
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const sn = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId, CidrBlock: '10.0.1.0/24' }));
  subnetId = sn.Subnet!.SubnetId!;
  emu.proxy.reset();
});

const run = (token: string, type = 't3.micro') =>
  ec2.send(
    new RunInstancesCommand({
      ImageId: 'ami-12345678',
      InstanceType: type as RunInstancesCommandInput['InstanceType'],
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnetId,
      ClientToken: token,
    }),
  );

async function liveCount(): Promise<number> {
  const out = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running'] }],
    }),
  );
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).length;
}

describe('EC2 emulator', () => {
  it('emulates ClientToken idempotency the way AWS does', async () => {
    const a = await run('tok-1');
    const b = await run('tok-1');
    assert.equal(a.Instances![0]!.InstanceId, b.Instances![0]!.InstanceId);
    assert.equal(await liveCount(), 1);
    await assert.rejects(run('tok-1', 'm6i.large'), { name: 'IdempotentParameterMismatch' });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.Instances![0]!.InstanceId!] }));
    await assert.rejects(run('tok-1'), { name: 'IdempotentInstanceTerminated' });
    const log = emu.proxy.log.filter((e) => e.action === 'RunInstances');
    assert.deepEqual(
      log.map((e) => [e.status, e.replayed ?? false, e.launched?.length ?? 0]),
      [
        [200, false, 1],
        [200, true, 0],
        [400, true, 0],
        [400, true, 0],
      ],
    );
  });

  it('without emulation, moto launches again for the same token (why the proxy exists)', async () => {
    emu.proxy.settings.clientTokens = false;
    await run('tok-2');
    await run('tok-2');
    assert.equal(await liveCount(), 2);
  });

  it('answers scripted faults per action and occurrence, then forwards again', async () => {
    emu.proxy.plan(
      { action: 'DescribeVpcs', nth: [1], fault: { kind: 'throttle' } },
      { action: 'DescribeVpcs', nth: [2], fault: { kind: 'internalError' } },
      { action: 'DescribeVpcs', nth: [3], fault: { kind: 'unavailable' } },
      { action: 'DescribeVpcs', nth: [4], fault: { kind: 'latency', ms: 300 } },
    );
    await assert.rejects(ec2.send(new DescribeVpcsCommand({})), { name: 'RequestLimitExceeded' });
    await assert.rejects(ec2.send(new DescribeVpcsCommand({})), { name: 'InternalError' });
    await assert.rejects(ec2.send(new DescribeVpcsCommand({})), { name: 'Unavailable' });
    const t = Date.now();
    const ok = await ec2.send(new DescribeVpcsCommand({}));
    assert.ok(Date.now() - t >= 290, 'latency applied');
    assert.ok((ok.Vpcs ?? []).length >= 1);
    assert.deepEqual(
      emu.proxy.log.map((e) => [e.action, e.status, e.fault]),
      [
        ['DescribeVpcs', 503, 'throttle'],
        ['DescribeVpcs', 500, 'internalError'],
        ['DescribeVpcs', 503, 'unavailable'],
        ['DescribeVpcs', 200, 'latency:300ms'],
      ],
    );
  });

  it('loses the answer after the side effect (socket destroyed or 500)', async () => {
    emu.proxy.plan({ action: 'RunInstances', fault: { kind: 'lostResponse' }, times: 1 });
    await assert.rejects(run('tok-3'));
    assert.equal(await liveCount(), 1, 'the launch happened');
    emu.proxy.plan({ action: 'RunInstances', fault: { kind: 'lostResponse', mode: '500' }, times: 1 });
    await assert.rejects(run('tok-4'), { name: 'InternalError' });
    assert.equal(await liveCount(), 2);
  });

  it('shows pending after launch and shutting-down after terminate, honouring state filters', async () => {
    emu.proxy.settings.pendingDescribes = 2;
    emu.proxy.settings.shuttingDownDescribes = 1;
    const id = (await run('tok-5')).Instances![0]!.InstanceId!;
    const state = async (states?: string[]) => {
      const out = await ec2.send(
        new DescribeInstancesCommand({
          InstanceIds: [id],
          Filters: states ? [{ Name: 'instance-state-name', Values: states }] : undefined,
        }),
      );
      return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name);
    };
    assert.deepEqual(await state(['running']), [], 'presented as pending, so not running');
    assert.deepEqual(await state(), ['pending']);
    assert.deepEqual(await state(), ['running']);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    assert.deepEqual(await state(['pending', 'running', 'shutting-down']), ['shutting-down']);
    assert.deepEqual(await state(['pending', 'running', 'shutting-down']), []);
    assert.deepEqual(await state(), ['terminated']);
  });

  it('reset wipes moto and the proxy', async () => {
    await run('tok-6');
    emu.proxy.plan({ action: 'DescribeVpcs', fault: { kind: 'throttle' } });
    await emu.reset();
    assert.equal(emu.proxy.log.length, 0);
    assert.equal(await liveCount(), 0);
    const vpcs = await ec2.send(new DescribeVpcsCommand({}));
    assert.deepEqual(
      (vpcs.Vpcs ?? []).map((v) => v.CidrBlock),
      ['172.31.0.0/16'],
      'only the default VPC, no throttle left',
    );
  });

  it('binds moto and the proxy to loopback only', async (t) => {
    assert.match(emu.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(emu.motoEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    const other = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (!other) return t.skip('no non-loopback IPv4 address here');
    for (const url of [emu.endpoint, emu.motoEndpoint]) {
      const port = Number(new URL(url).port);
      const reached = await new Promise<boolean>((resolve) => {
        const s = connect({ host: other, port }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      assert.equal(reached, false, `${url} reachable on ${other}`);
    }
  });

  it('leaves no moto process behind when the test process is killed', async () => {
    const script = `
      import { startMoto } from ${JSON.stringify(new URL('../../src/localenv/emulators/moto/index.ts', import.meta.url).href)};
      const m = await startMoto();
      process.stdout.write(m.pid + '\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) resolve(Number(buf.trim()));
      });
      child.once('exit', () => reject(new Error('child exited before starting moto')));
    });
    const alive = (p: number) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    assert.ok(alive(pid));
    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(alive(pid), false, 'moto outlived its parent');
  });
});
