/**
 * The AWS backend under injected faults (fault proxy in front of moto, real SDK): lost responses after a
 * successful RunInstances with ClientToken emulation on and off, throttling and 5xx, typed errors, and
 * secrets that must reach neither user data nor error messages.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AwsBackend } from '../../src/backends/aws/index.ts';
import { BackendError } from '../../src/datum/backend.ts';
import { type Ec2Emulator, startEc2Emulator } from '../../src/localenv/emulators/moto/index.ts';
import {
  ensureBase,
  type Harness,
  harness,
  INSTANCE_PROFILE,
  instance,
  network,
  owned,
  SECRET_ACCESS_KEY,
  untilGone,
} from './aws-fixtures.ts';

let emu: Ec2Emulator;
let h: Harness;

before(async () => {
  emu = await startEc2Emulator();
});
after(async () => {
  await h?.backend.close();
  await emu?.stop();
});
beforeEach(async () => {
  await emu.reset();
  await emu.createInstanceProfile(INSTANCE_PROFILE);
  h = harness(emu, { maxAttempts: 3 });
});

const runs = () => emu.proxy.log.filter((e) => e.action === 'RunInstances');
const launched = () => runs().flatMap((e) => e.launched ?? []);

async function rejectsWith(p: Promise<unknown>, reason: string): Promise<BackendError> {
  let caught: unknown;
  await p.catch((e) => {
    caught = e;
  });
  assert.ok(caught instanceof BackendError, `expected a BackendError, got ${caught}`);
  assert.equal(caught.reason, reason, caught.message);
  return caught;
}

describe('aws backend under faults', () => {
  for (const clientTokens of [true, false]) {
    it(`a lost response after a successful RunInstances leaves exactly one instance (ClientToken emulation ${clientTokens ? 'on' : 'off'})`, async () => {
      emu.proxy.settings.clientTokens = clientTokens;
      await ensureBase(h);
      emu.proxy.plan({ action: 'RunInstances', nth: [1], fault: { kind: 'lostResponse', mode: 'destroy' } });
      const first = await h.backend.ensureInstance(h.ctx, instance());
      const again = await h.backend.ensureInstance(h.ctx, instance());
      assert.equal(first.providerId, again.providerId);
      const o = await owned(h);
      assert.equal(o.instances.length, 1, 'one live instance by tag');
      assert.equal(launched().length, 1, 'moto launched exactly once');
      assert.equal(runs()[0]?.status, -1, 'the first answer was lost');
    });
  }

  it('lost answers to CreateVpc, CreateInternetGateway, CreateSubnet and CreateSecurityGroup are adopted, not duplicated', async () => {
    for (const action of ['CreateVpc', 'CreateInternetGateway', 'CreateSubnet', 'CreateSecurityGroup'])
      emu.proxy.plan({ action, nth: [1], fault: { kind: 'lostResponse' } });
    await ensureBase(h);
    await h.backend.ensureInstance(h.ctx, instance());
    await ensureBase(h);
    const o = await owned(h);
    assert.deepEqual(
      {
        vpcs: o.vpcs,
        subnets: o.subnets,
        groups: o.groups,
        gateways: o.gateways,
        instances: o.instances.length,
      },
      { vpcs: 1, subnets: 1, groups: 1, gateways: 1, instances: 1 },
    );
    for (const action of ['CreateVpc', 'CreateInternetGateway', 'CreateSubnet', 'CreateSecurityGroup'])
      assert.equal(emu.proxy.log.filter((e) => e.action === action).length, 1, `${action} sent once`);
  });

  it('a lost response plus a stale describe is saved by the ClientToken (AWS semantics, emulated)', async () => {
    await ensureBase(h);
    emu.proxy.plan(
      { action: 'RunInstances', nth: [1], fault: { kind: 'lostResponse', mode: '500' } },
      // The adoption lookup right after the lost launch does not see the new instance yet.
      { action: 'DescribeInstances', nth: [2], fault: { kind: 'staleRead' } },
    );
    const o = await h.backend.ensureInstance(h.ctx, instance());
    assert.equal(runs().length, 2, 'the retry sent RunInstances again');
    assert.equal(runs()[0]!.clientToken, runs()[1]!.clientToken, 'with the same token');
    assert.equal(runs()[1]!.replayed, true, 'answered from the token cache');
    assert.equal(launched().length, 1);
    assert.equal(o.providerId, launched()[0]);
    assert.equal((await owned(h)).instances.length, 1);
  });

  it('after a crash between RunInstances and the status write, the next ensure adopts by tag', async () => {
    emu.proxy.settings.clientTokens = false;
    await ensureBase(h);
    const d = instance();
    await h.backend.ensureInstance(h.ctx, d);
    // A fresh backend (a restarted process, empty caches) with the same deployment tag.
    const backend2 = new AwsBackend({
      managedBy: h.managedBy,
      instanceProfile: INSTANCE_PROFILE,
      images: { 'datumcloud/ubuntu-2204-lts': 'ami-0123456789abcdef0#/dev/sda1' },
    });
    const o = await backend2.ensureInstance(h.ctx, d);
    assert.equal(launched().length, 1);
    assert.equal(o.providerId, launched()[0]);
    await backend2.close();
  });

  it('throttling and 500s within the SDK retry budget end in success, with one instance', async () => {
    await ensureBase(h);
    emu.proxy.plan(
      { action: 'DescribeSecurityGroups', fault: { kind: 'throttle' }, times: 1 },
      { action: 'RunInstances', fault: { kind: 'internalError' }, times: 1 },
      { action: 'RunInstances', fault: { kind: 'unavailable' }, nth: [2] },
      { action: 'AuthorizeSecurityGroupIngress', fault: { kind: 'internalError' }, times: 2 },
    );
    const o = await h.backend.ensureInstance(h.ctx, instance());
    assert.equal(o.powerState, 'pending', 'as RunInstances answers');
    assert.equal(launched().length, 1);
    assert.ok(emu.proxy.log.some((e) => e.fault === 'throttle'));
  });

  it('persistent throttling ends in a typed Throttled error with a retry hint, not a hot loop', async () => {
    await ensureBase(h);
    emu.proxy.plan({ action: 'DescribeInstances', fault: { kind: 'throttle' } });
    const before = emu.proxy.log.length;
    const err = await rejectsWith(h.backend.ensureInstance(h.ctx, instance()), 'Throttled');
    assert.equal(err.retryable, true);
    assert.ok((err.retryAfterMs ?? 0) >= 1000);
    const attempts = emu.proxy.log.slice(before).filter((e) => e.action === 'DescribeInstances').length;
    assert.equal(attempts, 3, 'the SDK tried maxAttempts times, then gave up');
  });

  it('persistent 500s on RunInstances end in a typed Transient error and launch nothing', async () => {
    await ensureBase(h);
    emu.proxy.plan({ action: 'RunInstances', fault: { kind: 'internalError' } });
    const err = await rejectsWith(h.backend.ensureInstance(h.ctx, instance()), 'Transient');
    assert.equal(err.retryable, true);
    assert.equal(launched().length, 0);
    assert.ok(runs().length <= 3, `bounded attempts (${runs().length})`);
  });

  it('maps capacity and limit errors to QuotaExceeded', async () => {
    await ensureBase(h);
    emu.proxy.plan({
      action: 'RunInstances',
      fault: {
        kind: 'error',
        status: 500,
        code: 'InsufficientInstanceCapacity',
        message: 'no m6i.large in us-east-1a',
      },
      times: 1,
    });
    await rejectsWith(h.backend.ensureInstance(h.ctx, instance()), 'QuotaExceeded');
    emu.proxy.plan({
      action: 'RunInstances',
      fault: { kind: 'error', status: 400, code: 'InstanceLimitExceeded' },
      times: 1,
    });
    await rejectsWith(h.backend.ensureInstance(h.ctx, instance()), 'QuotaExceeded');
    assert.equal(launched().length, 0);
  });

  it('maps auth failures to CredentialsInvalid without any credential in the message', async () => {
    emu.proxy.plan({
      action: 'CreateVpc',
      fault: {
        kind: 'error',
        status: 401,
        code: 'AuthFailure',
        message: `bad signature for ${SECRET_ACCESS_KEY}`,
      },
    });
    const err = await rejectsWith(h.backend.ensureNetwork(h.ctx, network()), 'CredentialsInvalid');
    assert.equal(err.message.includes(SECRET_ACCESS_KEY), false);
    assert.equal(JSON.stringify(err.cause).includes(SECRET_ACCESS_KEY), false);
    assert.equal(h.logs.join('\n').includes(SECRET_ACCESS_KEY), false);
    // A Secret without the documented keys is refused before any call.
    const bad = { ...h.ctx, credentials: { source: 'Secret' as const, data: { key: 'x' } } };
    await rejectsWith(h.backend.ensureNetwork(bad, network()), 'CredentialsInvalid');
  });

  it('keeps secrets out of user data and errors: they go to SSM SecureString, fetched at boot', async () => {
    await ensureBase(h);
    const envSecret = 'env-secret-value-7d1e2a';
    const fileSecret = 'file-secret-content-93bd44';
    const d = instance('sec-1', {
      runtime: {
        kind: 'sandbox',
        containers: [
          {
            name: 'app',
            image: 'ghcr.io/example/app:1',
            env: [
              { name: 'PUBLIC', value: 'visible', sensitive: false },
              { name: 'TOKEN', value: envSecret, sensitive: true },
            ],
            ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
            files: [
              {
                path: '/etc/app/key.pem',
                data: Buffer.from(fileSecret).toString('base64'),
                sensitive: true,
                mode: 0o400,
              },
            ],
          },
        ],
      },
    });
    await h.backend.ensureInstance(h.ctx, d);
    const ec2Traffic = JSON.stringify(emu.proxy.log.filter((e) => e.service === 'ec2').map((e) => e.params));
    const userData = Buffer.from(runs()[0]!.params!.UserData!, 'base64').toString('utf8');
    for (const secret of [
      envSecret,
      fileSecret,
      Buffer.from(fileSecret).toString('base64'),
      SECRET_ACCESS_KEY,
    ]) {
      assert.equal(userData.includes(secret), false, 'secret in user data');
      assert.equal(ec2Traffic.includes(secret), false, 'secret in an EC2 request');
    }
    assert.match(userData, /PUBLIC=visible/);
    assert.match(userData, /aws ssm get-parameter/);
    assert.match(userData, /--env-file \/run\/datum\/app\.secret\.env/);
    // The values are in SSM, encrypted.
    const ssm = new SSMClient({
      region: emu.region,
      endpoint: emu.motoEndpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const param = userData.match(/\/datum-provider\/sec-1\/env\/app\/TOKEN/)?.[0];
    assert.ok(param, 'user data names the parameter');
    const got = await ssm.send(new GetParameterCommand({ Name: param, WithDecryption: true }));
    assert.equal(got.Parameter?.Value, envSecret);
    assert.equal(got.Parameter?.Type, 'SecureString');

    // An error while writing secrets carries no secret either.
    emu.proxy.plan({
      action: 'PutParameter',
      fault: {
        kind: 'error',
        status: 400,
        code: 'ValidationException',
        message: `value ${envSecret}-changed rejected`,
      },
    });
    const changed = structuredClone(d);
    if (changed.runtime.kind === 'sandbox')
      changed.runtime.containers[0]!.env[1]!.value = `${envSecret}-changed`;
    const err = await rejectsWith(h.backend.ensureInstance(h.ctx, changed), 'InvalidConfiguration');
    assert.equal(err.message.includes(envSecret), false, err.message);
    emu.proxy.clearPlan();

    // Deleting the instance deletes its parameters.
    await untilGone(() => h.backend.deleteInstance(h.ctx, 'sec-1'));
    await assert.rejects(
      ssm.send(new GetParameterCommand({ Name: param, WithDecryption: true })),
      /ParameterNotFound/,
    );
    ssm.destroy();
  });

  it('refuses secrets without an instance profile to read them (InvalidConfiguration), writing nothing', async () => {
    const noProfile = harness(emu, { instanceProfile: undefined });
    await ensureBase(noProfile);
    const d = instance('sec-2', {
      runtime: {
        kind: 'sandbox',
        containers: [
          {
            name: 'app',
            image: 'x',
            env: [{ name: 'T', value: 'secret-x-123456', sensitive: true }],
            ports: [],
            files: [],
          },
        ],
      },
    });
    await rejectsWith(noProfile.backend.ensureInstance(noProfile.ctx, d), 'InvalidConfiguration');
    assert.equal(emu.proxy.log.filter((e) => e.action === 'PutParameter').length, 0);
  });
});
