/**
 * The two backends a chaos run drives, seen from outside the provider process: how to start a provider on
 * them, what exists on the platform (to count duplicates and orphans), how to inject platform faults, and
 * the platform metadata a secret must not reach (in-memory state file, EC2 user data).
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import {
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type Instance,
  type Tag,
} from '@aws-sdk/client-ec2';
import { parse } from 'yaml';
import { TAG_ID, TAG_MANAGED_BY, TAG_UID, tagMap } from '../../src/backends/aws/tags.ts';
import type { InstanceDesired } from '../../src/datum/backend.ts';
import type { FaultRule } from '../../src/localenv/emulators/moto/faults.ts';
import { type Ec2Emulator, startEc2Emulator } from '../../src/localenv/emulators/moto/index.ts';
import { type ChaosEnv, type Site, workPath } from './env.ts';
import type { InMemoryFaultLine } from './inmemory-faults.ts';
import type { ProviderSpec } from './provider.ts';

export interface BackendItem {
  kind: 'network' | 'subnet' | 'instance' | 'firewall' | 'gateway';
  /** Our backend id (`inst-<uid>`, …): one live resource per id and kind, or it is a duplicate. */
  id: string;
  /** The upstream owner's UID. */
  uid: string;
  providerId: string;
}

export interface Target {
  name: Site['backend'];
  spec(site: Site): ProviderSpec;
  /** Live platform resources of this provider. */
  inventory(): Promise<BackendItem[]>;
  /** Instances ever launched per backend id, terminated ones included (a later-cleaned duplicate counts). */
  launches(): Promise<Map<string, number>>;
  /** Text of platform metadata that must not hold secret values. */
  metadataText(): Promise<string>;
  /** Plain env values as the platform holds them, per backend id: `container/NAME` → value. */
  platformEnv(): Promise<Map<string, Record<string, string>>>;
  close(): Promise<void>;
}

export interface InMemoryTarget extends Target {
  name: 'inmemory';
  inject(...faults: InMemoryFaultLine[]): void;
}

export interface AwsTarget extends Target {
  name: 'aws';
  emu: Ec2Emulator;
}

/** The in-memory backend's state file, as far as we read it. */
interface Stored {
  id: string;
  providerId: string;
  owner: { uid: string };
}
interface StoredInstance extends Stored {
  desired: InstanceDesired;
}

const PRELOAD = fileURLToPath(new URL('./inmemory-faults.ts', import.meta.url));

function settingsFile(env: ChaosEnv, site: Site): string {
  const path = workPath(env, `settings-${site.backend}.yaml`);
  // No orphan sweep during the run: orphans must not arise in the first place, not be cleaned up later.
  writeFileSync(
    path,
    [
      'apiVersion: infra.provider-ts.io/v1alpha1',
      'kind: ProviderSettings',
      `locationClassName: ${site.locationClass}`,
      `backend: ${site.backend}`,
      'sweepIntervalSeconds: 36000',
      'resyncSeconds: 600',
      'leaderElection:',
      '  namespace: datum-provider-system',
      `  name: chaos-${site.backend}-leader`,
      '  leaseDurationSeconds: 4',
      '  renewDeadlineSeconds: 3',
      '  retryPeriodSeconds: 1',
      '',
    ].join('\n'),
  );
  return path;
}

function baseSpec(env: ChaosEnv, site: Site, backendConfig: Record<string, string>): ProviderSpec {
  return {
    name: `provider-${site.backend}`,
    args: ['--kubeconfig', env.cp.kubeconfigPath, '--settings', settingsFile(env, site)],
    // Debug: the most a provider ever says, so the secret scan sees everything it could leak.
    env: { DATUM_BACKEND_CONFIG: JSON.stringify(backendConfig), LOG_LEVEL: 'debug' },
    logDir: env.workDir,
  };
}

export function inMemoryTarget(env: ChaosEnv): InMemoryTarget {
  const stateFile = workPath(env, 'inmemory-state.json');
  const faultFile = workPath(env, 'inmemory-faults.jsonl');
  writeFileSync(faultFile, '');
  const state = (): {
    networks: Record<string, Stored>;
    subnets: Record<string, Stored>;
    instances: Record<string, StoredInstance>;
  } =>
    existsSync(stateFile)
      ? JSON.parse(readFileSync(stateFile, 'utf8'))
      : { networks: {}, subnets: {}, instances: {} };
  const items = (kind: BackendItem['kind'], rs: Record<string, Stored>) =>
    Object.values(rs).map((r) => ({ kind, id: r.id, uid: r.owner.uid, providerId: r.providerId }));
  return {
    name: 'inmemory',
    spec(site) {
      return {
        ...baseSpec(env, site, { stateFile, pendingMs: '300', stoppingMs: '300' }),
        preload: PRELOAD,
        env: {
          ...baseSpec(env, site, { stateFile, pendingMs: '300', stoppingMs: '300' }).env,
          CHAOS_FAULT_FILE: faultFile,
        },
      };
    },
    async inventory() {
      const s = state();
      return [
        ...items('network', s.networks),
        ...items('subnet', s.subnets),
        ...items('instance', s.instances),
      ];
    },
    async launches() {
      // Stored by id: a second create of the same id is impossible by construction; count live ones.
      const m = new Map<string, number>();
      for (const i of await this.inventory()) if (i.kind === 'instance') m.set(i.id, 1);
      return m;
    },
    async metadataText() {
      return existsSync(stateFile) ? readFileSync(stateFile, 'utf8') : '';
    },
    async platformEnv() {
      const out = new Map<string, Record<string, string>>();
      for (const i of Object.values(state().instances) as StoredInstance[]) {
        const env: Record<string, string> = {};
        for (const c of i.desired.runtime.kind === 'sandbox' ? i.desired.runtime.containers : [])
          for (const e of c.env) if (!e.sensitive) env[`${c.name}/${e.name}`] = e.value;
        out.set(i.id, env);
      }
      return out;
    },
    inject(...faults) {
      for (const f of faults) appendFileSync(faultFile, `${JSON.stringify(f)}\n`);
    },
    async close() {},
  };
}

export async function awsTarget(env: ChaosEnv): Promise<AwsTarget> {
  const emu = await startEc2Emulator();
  await emu.createInstanceProfile('datum-instance');
  const managedBy = `chaos-${randomUUID().slice(0, 8)}`;
  const backendConfig = {
    endpoint: emu.endpoint,
    instanceProfile: 'datum-instance',
    managedBy,
    images: 'datumcloud/ubuntu-2204-lts=ami-0123456789abcdef0#/dev/sda1',
    containerHostImage: 'ami-0fedcba9876543210#/dev/xvda',
  };
  // Straight to moto, past the fault proxy: the inventory must not be disturbed by injected faults.
  const ec2 = new EC2Client({
    region: emu.region,
    endpoint: emu.motoEndpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const Filters = [{ Name: `tag:${TAG_MANAGED_BY}`, Values: [managedBy] }];
  const item = (
    kind: BackendItem['kind'],
    providerId: string | undefined,
    tags: Tag[] | undefined,
  ): BackendItem[] => {
    const t = tagMap(tags);
    return [{ kind, id: t[TAG_ID] ?? '?', uid: t[TAG_UID] ?? '?', providerId: providerId ?? '?' }];
  };
  // DescribeInstances answers in pages (moto: 100 reservations): follow every one.
  const allInstances = async () => {
    const all: Instance[] = [];
    let NextToken: string | undefined;
    do {
      const out = await ec2.send(new DescribeInstancesCommand({ Filters, NextToken }));
      all.push(...(out.Reservations ?? []).flatMap((r) => r.Instances ?? []));
      NextToken = out.NextToken;
    } while (NextToken);
    return all;
  };
  /** User data of every live instance, by backend id: as sent (base64) and as text (gunzipped). */
  const userData = async () => {
    const live = (await allInstances()).filter((i) => i.State?.Name !== 'terminated');
    const out = new Map<string, { b64: string; text: string }>();
    await Promise.all(
      live.map(async (i) => {
        const a = await ec2.send(
          new DescribeInstanceAttributeCommand({ InstanceId: i.InstanceId, Attribute: 'userData' }),
        );
        const b64 = a.UserData?.Value ?? '';
        const raw = Buffer.from(b64, 'base64');
        const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
        out.set(tagMap(i.Tags)[TAG_ID] ?? '?', { b64, text });
      }),
    );
    return out;
  };
  return {
    name: 'aws',
    emu,
    spec: (site) => baseSpec(env, site, backendConfig),
    async inventory() {
      const [vpcs, gateways, subnets, groups, instances] = await Promise.all([
        ec2.send(new DescribeVpcsCommand({ Filters })),
        ec2.send(new DescribeInternetGatewaysCommand({ Filters })),
        ec2.send(new DescribeSubnetsCommand({ Filters })),
        ec2.send(new DescribeSecurityGroupsCommand({ Filters })),
        allInstances(),
      ]);
      return [
        ...(vpcs.Vpcs ?? []).flatMap((v) => item('network', v.VpcId, v.Tags)),
        ...(gateways.InternetGateways ?? []).flatMap((v) => item('gateway', v.InternetGatewayId, v.Tags)),
        ...(subnets.Subnets ?? []).flatMap((v) => item('subnet', v.SubnetId, v.Tags)),
        ...(groups.SecurityGroups ?? []).flatMap((v) => item('firewall', v.GroupId, v.Tags)),
        ...instances
          .filter((i) => i.State?.Name !== 'terminated')
          .flatMap((i) => item('instance', i.InstanceId, i.Tags)),
      ];
    },
    async launches() {
      const m = new Map<string, number>();
      for (const i of await allInstances()) {
        const id = tagMap(i.Tags)[TAG_ID] ?? '?';
        m.set(id, (m.get(id) ?? 0) + 1);
      }
      return m;
    },
    async metadataText() {
      const texts = [...(await userData()).values()].map(({ b64, text }) => `${b64}\n${text}`);
      return texts.join('\n');
    },
    async platformEnv() {
      // The container host gets plain env as /etc/datum/<container>.env files in its cloud-config.
      const out = new Map<string, Record<string, string>>();
      for (const [id, { text }] of await userData()) {
        const doc = parse(text.replace(/^#cloud-config\n/, '')) as {
          write_files?: { path: string; content: string }[];
        };
        const env: Record<string, string> = {};
        for (const f of doc?.write_files ?? []) {
          const m = /^\/etc\/datum\/(.+)\.env$/.exec(f.path);
          if (!m) continue;
          for (const line of f.content.split('\n').filter(Boolean)) {
            const eq = line.indexOf('=');
            env[`${m[1]}/${line.slice(0, eq)}`] = line.slice(eq + 1);
          }
        }
        out.set(id, env);
      }
      return out;
    },
    async close() {
      ec2.destroy();
      await emu.stop();
    },
  };
}

export type { FaultRule };
