/** Pure parts of the AWS backend: CIDR plan, security group rules, settings, error mapping, user data. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { toBackendError } from '../../src/backends/aws/errors.ts';
import { desiredPerms, groupName } from '../../src/backends/aws/firewall.ts';
import { createAwsBackend } from '../../src/backends/aws/index.ts';
import { clientToken, planLaunch } from '../../src/backends/aws/launch.ts';
import { collectSecrets } from '../../src/backends/aws/secrets.ts';
import { resolveSettings } from '../../src/backends/aws/settings.ts';
import { buildUserData } from '../../src/backends/aws/userdata.ts';
import {
  formatCidr,
  parseCidr,
  primaryVpcBlock,
  subnetBlock,
  subtract,
} from '../../src/backends/common/cidr.ts';
import { BackendError, type InstanceDesired } from '../../src/datum/backend.ts';

const f = (c: string) => formatCidr(parseCidr(c));

describe('cidr plan', () => {
  it('takes the /16 holding the start of a larger range, or the range itself when it fits', () => {
    assert.equal(formatCidr(primaryVpcBlock(parseCidr('10.128.0.0/9'))), '10.128.0.0/16');
    assert.equal(formatCidr(primaryVpcBlock(parseCidr('10.130.0.0/20'))), '10.130.0.0/20');
    assert.throws(() => primaryVpcBlock(parseCidr('10.0.0.0/30')), /smallest/);
  });

  it('puts a subnet in the /16 (or the range) that holds it, refusing what AWS or the range cannot take', () => {
    assert.equal(
      formatCidr(subnetBlock(parseCidr('10.200.4.0/24'), parseCidr('10.128.0.0/9'))),
      '10.200.0.0/16',
    );
    assert.equal(
      formatCidr(subnetBlock(parseCidr('10.130.0.16/28'), parseCidr('10.130.0.0/20'))),
      '10.130.0.0/20',
    );
    assert.throws(() => subnetBlock(parseCidr('192.168.0.0/24'), parseCidr('10.128.0.0/9')), /outside/);
    assert.throws(() => subnetBlock(parseCidr('10.128.0.0/15'), parseCidr('10.128.0.0/9')), /\/16 and \/28/);
    assert.throws(() => subnetBlock(parseCidr('10.128.0.0/29'), undefined), /\/16 and \/28/);
  });

  it('normalises host bits and rejects garbage', () => {
    assert.equal(f('10.128.3.7/24'), '10.128.3.0/24');
    assert.throws(() => parseCidr('10.300.0.0/16'));
    assert.throws(() => parseCidr('fd00::/8'));
  });

  it('subtracts except blocks into the smallest covering list', () => {
    assert.deepEqual(subtract(parseCidr('10.0.0.0/8'), [parseCidr('10.1.0.0/16')]).map(formatCidr), [
      '10.0.0.0/16',
      '10.2.0.0/15',
      '10.4.0.0/14',
      '10.8.0.0/13',
      '10.16.0.0/12',
      '10.32.0.0/11',
      '10.64.0.0/10',
      '10.128.0.0/9',
    ]);
    assert.deepEqual(subtract(parseCidr('10.0.0.0/24'), [parseCidr('10.0.0.0/24')]), []);
    assert.deepEqual(subtract(parseCidr('10.0.0.0/24'), [parseCidr('192.168.0.0/16')]).map(formatCidr), [
      '10.0.0.0/24',
    ]);
  });
});

describe('security group rules', () => {
  it('maps ports, ranges, protocols and sources; empty ports = all traffic; no rules = nothing', () => {
    const perms = desiredPerms([
      {
        ports: [
          { protocol: 'TCP', port: 443 },
          { protocol: 'UDP', port: 5000, endPort: 5100 },
        ],
        from: [],
      },
      { ports: [{ protocol: 'TCP' }, { protocol: 'SCTP', port: 9 }], from: [{ cidr: '192.168.1.0/24' }] },
      { ports: [], from: [{ cidr: '10.0.0.0/8' }] },
    ]);
    const keys = perms.map((p) => `${p.proto}:${p.from ?? ''}-${p.to ?? ''}:${p.cidr}`).sort();
    assert.deepEqual(keys, [
      '-1:-:10.0.0.0/8',
      '132:-:192.168.1.0/24',
      'tcp:0-65535:192.168.1.0/24',
      'tcp:443-443:0.0.0.0/0',
      'udp:5000-5100:0.0.0.0/0',
    ]);
    assert.deepEqual(desiredPerms([]), []);
  });

  it('refuses bad ranges and more rules than a group holds', () => {
    assert.throws(
      () => desiredPerms([{ ports: [{ protocol: 'TCP', port: 10, endPort: 5 }], from: [] }]),
      (e: unknown) => e instanceof BackendError && e.reason === 'InvalidConfiguration',
    );
    const many = Array.from({ length: 61 }, (_, i) => ({
      ports: [{ protocol: 'TCP' as const, port: 1000 + i }],
      from: [],
    }));
    assert.throws(
      () => desiredPerms(many),
      (e: unknown) => e instanceof BackendError && e.reason === 'QuotaExceeded',
    );
  });

  it('names groups deterministically and legally', () => {
    assert.equal(groupName('inst-a', 0), groupName('inst-a', 0));
    assert.notEqual(groupName('inst-a', 0), groupName('inst-b', 0));
    assert.match(groupName('inst-a', 1), /^datum-[0-9a-f]{20}-1$/);
  });
});

describe('settings', () => {
  it('reads maps as key=value lists or JSON, layering config over options over defaults', () => {
    const s = resolveSettings(
      { images: { 'a/b': 'ami-1' }, instanceTypes: { 'datumcloud/x': 't3.micro' } },
      {
        images: '{"c/d":"ami-2#/dev/xvda"}',
        instanceTypes: 'datumcloud/y=c7i.large, datumcloud/z=m7i.xlarge',
      },
      undefined,
    );
    assert.equal(s.images['a/b']?.imageId, 'ami-1');
    assert.equal(s.images['a/b']?.rootDevice, '/dev/sda1');
    assert.equal(s.images['c/d']?.rootDevice, '/dev/xvda');
    assert.match(s.images['datumcloud/ubuntu-2204-lts']?.imageId ?? '', /^resolve:ssm:/);
    assert.equal(s.instanceTypes['datumcloud/y'], 'c7i.large');
    assert.equal(s.instanceTypes['datumcloud/d1-standard-2'], 'm6i.large');
    assert.equal(s.region, process.env.AWS_REGION || 'us-east-1');
  });

  it('takes the region from the context first, and refuses bad values with InvalidConfiguration', () => {
    assert.equal(
      resolveSettings({ region: 'eu-west-1' }, { region: 'eu-central-1' }, 'ap-south-1').region,
      'ap-south-1',
    );
    assert.equal(
      resolveSettings({ region: 'eu-west-1' }, { region: 'eu-central-1' }, undefined).region,
      'eu-central-1',
    );
    const bads: Record<string, string>[] = [
      { region: 'mars' },
      { images: 'x=notanami' },
      { assignPublicIp: 'maybe' },
      { maxAttempts: '0' },
    ];
    for (const bad of bads)
      assert.throws(
        () => resolveSettings({}, bad, undefined),
        (e: unknown) => e instanceof BackendError && e.reason === 'InvalidConfiguration',
      );
  });

  it('builds from provider settings, with capabilities from the maps', () => {
    const b = createAwsBackend({
      instanceTypeMap: { 'datumcloud/d1-large': 'm6i.2xlarge' },
      backendConfig: { assignPublicIp: 'false' },
    });
    const caps = b.capabilities();
    assert.deepEqual(caps.instanceTypes, ['datumcloud/d1-large', 'datumcloud/d1-standard-2']);
    assert.equal(caps.features.includes('externalIP'), false);
    assert.deepEqual(caps.volumeKinds, ['disk', 'configMap', 'secret']);
  });
});

describe('error mapping', () => {
  const sdk = (name: string, status: number, message = 'm') =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
  it('classifies throttling, quota, credentials, validation, dependency and server errors', () => {
    const cases: [string, number, string][] = [
      ['RequestLimitExceeded', 503, 'Throttled'],
      ['ThrottlingException', 400, 'Throttled'],
      ['InsufficientInstanceCapacity', 500, 'QuotaExceeded'],
      ['VcpuLimitExceeded', 400, 'QuotaExceeded'],
      ['AuthFailure', 401, 'CredentialsInvalid'],
      ['UnauthorizedOperation', 403, 'CredentialsInvalid'],
      ['InvalidParameterValue', 400, 'InvalidConfiguration'],
      ['InvalidAMIID.NotFound', 400, 'InvalidConfiguration'],
      ['InvalidVpcID.NotFound', 400, 'NotFound'],
      ['DependencyViolation', 400, 'DependencyNotReady'],
      ['InternalError', 500, 'Transient'],
      ['Unavailable', 503, 'Transient'],
      ['Unsupported', 400, 'Unsupported'],
    ];
    for (const [code, status, reason] of cases)
      assert.equal(toBackendError(sdk(code, status), 'Op').reason, reason, code);
    const net = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    assert.equal(toBackendError(net, 'Op').reason, 'Transient');
    assert.ok((toBackendError(sdk('RequestLimitExceeded', 503), 'Op').retryAfterMs ?? 0) > 0);
  });

  it('redacts known secret values from every message and keeps no original error', () => {
    const e = toBackendError(
      sdk('SignatureDoesNotMatch', 403, 'expected sig for key s3cr3tvalue'),
      'RunInstances',
      ['s3cr3tvalue'],
    );
    assert.equal(e.message.includes('s3cr3tvalue'), false);
    assert.match(e.message, /\[redacted\]/);
    assert.deepEqual(e.cause, { code: 'SignatureDoesNotMatch', httpStatusCode: 403 });
  });
});

function vm(over: Partial<InstanceDesired> = {}): InstanceDesired {
  return {
    id: 'i1',
    owner: { cluster: 'c', namespace: 'n', kind: 'Instance', name: 'i1', uid: 'u1' },
    instanceType: 'datumcloud/d1-standard-2',
    runtime: {
      kind: 'virtualMachine',
      image: 'datumcloud/ubuntu-2204-lts',
      diskSizeGiB: 30,
      ports: [],
      files: [{ path: '/etc/motd', data: Buffer.from('hello').toString('base64'), sensitive: false }],
    },
    interfaces: [{ networkId: 'n', subnetId: 's', ingress: [] }],
    sshKeys: [
      { user: 'alice', key: 'ssh-ed25519 AAAA1 a' },
      { user: 'alice', key: 'ssh-ed25519 AAAA2 b' },
      { user: 'bob', key: 'ssh-rsa BBBB c' },
    ],
    templateHash: 'h',
    ...over,
  };
}

describe('launch plan and user data', () => {
  const settings = resolveSettings({ instanceProfile: 'p' }, {}, 'eu-west-1');
  const placed = {
    interfaces: [{ subnetId: 'subnet-1', groupId: 'sg-1' }],
    refs: [],
    secretVersions: [],
    tags: [],
  };

  it('writes users with their keys and plain files into cloud-config', () => {
    const ud = Buffer.from(buildUserData(vm(), [], 'eu-west-1'), 'base64').toString('utf8');
    assert.match(ud, /^#cloud-config\n/);
    assert.match(
      ud,
      /name: alice\n\s+ssh_authorized_keys:\n\s+- ssh-ed25519 AAAA1 a\n\s+- ssh-ed25519 AAAA2 b/,
    );
    assert.match(ud, /path: \/etc\/motd/);
  });

  it('gzips large user data and refuses what stays too large', () => {
    const big = Buffer.from('x'.repeat(40_000)).toString('base64');
    const d = vm({
      runtime: {
        kind: 'virtualMachine',
        image: 'datumcloud/ubuntu-2204-lts',
        diskSizeGiB: 30,
        ports: [],
        files: [{ path: '/big', data: big, sensitive: false }],
      },
    });
    const raw = Buffer.from(buildUserData(d, [], 'r'), 'base64');
    assert.equal(raw[0], 0x1f, 'gzip magic');
    assert.match(gunzipSync(raw).toString('utf8'), /^#cloud-config/);
    const random = Buffer.from(
      Array.from({ length: 20_000 }, () => Math.floor(Math.random() * 256)),
    ).toString('base64');
    const d2 = vm({
      runtime: {
        kind: 'virtualMachine',
        image: 'datumcloud/ubuntu-2204-lts',
        diskSizeGiB: 30,
        ports: [],
        files: [{ path: '/r', data: random, sensitive: false }],
      },
    });
    assert.throws(
      () => buildUserData(d2, [], 'r'),
      (e: unknown) => e instanceof BackendError && e.reason === 'InvalidConfiguration',
    );
  });

  it('hashes the launch spec: same input same hash, disk or type change a new hash and token', () => {
    const a = planLaunch(settings, vm(), placed);
    const b = planLaunch(settings, vm(), placed);
    assert.equal(a.specHash, b.specHash);
    const bigger = vm({
      runtime: {
        ...(vm().runtime as Extract<InstanceDesired['runtime'], { kind: 'virtualMachine' }>),
        diskSizeGiB: 40,
      },
    });
    assert.notEqual(planLaunch(settings, bigger, placed).specHash, a.specHash);
    assert.notEqual(clientToken('i1', a.specHash, 0), clientToken('i1', a.specHash, 1));
    assert.ok(clientToken('i1', a.specHash, 0).length <= 64);
    assert.equal(a.input.NetworkInterfaces?.[0]?.AssociatePublicIpAddress, true);
    assert.deepEqual(a.input.IamInstanceProfile, { Name: 'p' });
    assert.equal(a.input.MetadataOptions?.HttpTokens, 'required');
  });

  it('names secret parameters under the instance path and never puts values in user data', () => {
    const d = vm({
      runtime: {
        kind: 'sandbox',
        containers: [
          {
            name: 'app',
            image: 'img',
            env: [{ name: 'PASSWORD', value: 'hunter2-secret', sensitive: true }],
            ports: [],
            files: [
              {
                path: '/run/key',
                data: Buffer.from('private-key-bytes').toString('base64'),
                sensitive: true,
              },
            ],
          },
        ],
      },
    });
    const { refs, values } = collectSecrets('/datum-provider', 'i1', d.runtime);
    assert.equal(refs[0]!.param, '/datum-provider/i1/env/app/PASSWORD');
    assert.match(refs[1]!.param, /^\/datum-provider\/i1\/file\/app\/[0-9a-f]{32}$/);
    assert.equal(values.get(refs[0]!.param), 'hunter2-secret');
    const ud = Buffer.from(buildUserData(d, refs, 'eu-west-1'), 'base64').toString('utf8');
    assert.equal(ud.includes('hunter2-secret'), false);
    assert.equal(ud.includes(Buffer.from('private-key-bytes').toString('base64')), false);
    assert.match(ud, /datum-secrets\.service/);
  });

  it('refuses env that an env file cannot carry', () => {
    const d = vm({
      runtime: {
        kind: 'sandbox',
        containers: [
          {
            name: 'app',
            image: 'i',
            env: [{ name: 'X', value: 'a\nb', sensitive: false }],
            ports: [],
            files: [],
          },
        ],
      },
    });
    assert.throws(
      () => buildUserData(d, [], 'r'),
      (e: unknown) => e instanceof BackendError && e.reason === 'InvalidConfiguration',
    );
  });
});
