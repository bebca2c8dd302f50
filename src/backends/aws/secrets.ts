/**
 * Sensitive values (env from Secrets, files from Secret volumes) never go into user data, which anyone with
 * ec2:DescribeInstanceAttribute can read. They are written to SSM Parameter Store as SecureString under
 * `<ssmPrefix>/<instance id>/…`; the instance fetches them at boot with its instance profile (user data
 * holds only parameter names). Parameter versions feed the launch spec, so a changed secret relaunches.
 */
import { createHash } from 'node:crypto';
import {
  AddTagsToResourceCommand,
  DeleteParametersCommand,
  DescribeParametersCommand,
  GetParametersByPathCommand,
  type Parameter,
  PutParameterCommand,
  RemoveTagsFromResourceCommand,
} from '@aws-sdk/client-ssm';
import { BackendError, type RuntimeDesired } from '../../datum/backend.ts';
import type { AwsSession } from './clients.ts';
import { errorCode } from './errors.ts';
import { TAG_RELEASED_BY, TAG_RELEASED_WITH, tagValue } from './tags.ts';

export interface SecretRef {
  /** SSM parameter name. */
  param: string;
  kind: 'env' | 'file';
  /** Container name (sandbox) or `vm`. */
  owner: string;
  /** Env var name or file path. */
  target: string;
  mode?: number;
}

const STANDARD_MAX = 4096;
const ADVANCED_MAX = 8192;

function segment(s: string): string {
  return /^[A-Za-z0-9_.-]{1,128}$/.test(s) ? s : createHash('sha256').update(s).digest('hex').slice(0, 32);
}

export function instancePath(prefix: string, instanceId: string): string {
  return `${prefix}/${segment(instanceId)}`;
}

/** The sensitive items of a runtime: their SSM names and values (file values stay base64). */
export function collectSecrets(
  prefix: string,
  instanceId: string,
  runtime: RuntimeDesired,
): { refs: SecretRef[]; values: Map<string, string> } {
  const base = instancePath(prefix, instanceId);
  const refs: SecretRef[] = [];
  const values = new Map<string, string>();
  const add = (ref: SecretRef, value: string) => {
    refs.push(ref);
    values.set(ref.param, value);
  };
  const files = (
    owner: string,
    list: { path: string; data: string; mode?: number; sensitive: boolean }[],
  ) => {
    for (const f of list)
      if (f.sensitive)
        add(
          {
            param: `${base}/file/${segment(owner)}/${segment(f.path)}`,
            kind: 'file',
            owner,
            target: f.path,
            mode: f.mode,
          },
          f.data,
        );
  };
  if (runtime.kind === 'virtualMachine') files('vm', runtime.files);
  else
    for (const c of runtime.containers) {
      for (const e of c.env)
        if (e.sensitive)
          add(
            {
              param: `${base}/env/${segment(c.name)}/${segment(e.name)}`,
              kind: 'env',
              owner: c.name,
              target: e.name,
            },
            e.value,
          );
      files(c.name, c.files);
    }
  for (const [param, v] of values)
    if (Buffer.byteLength(v) > ADVANCED_MAX)
      throw new BackendError(
        'InvalidConfiguration',
        `a secret value for ${param.slice(base.length + 1)} is larger than SSM's 8 KiB limit`,
      );
  return { refs, values };
}

/**
 * Writes changed values and deletes stale ones; returns `name@version` per parameter. A digest of the values
 * per instance is cached in memory so the steady state costs no SSM call.
 */
export class SecretStore {
  private readonly cache = new Map<string, { digest: string; versions: string[] }>();

  async sync(
    s: AwsSession,
    instanceId: string,
    values: Map<string, string>,
    tags: { Key: string; Value: string }[],
  ): Promise<string[]> {
    if (values.size === 0) return [];
    const base = instancePath(s.settings.ssmPrefix, instanceId);
    const digest = createHash('sha256')
      .update(JSON.stringify([...values].sort(([a], [b]) => a.localeCompare(b))))
      .digest('hex');
    const hit = this.cache.get(base);
    if (hit?.digest === digest) return hit.versions;

    const current = await this.list(s, base);
    const versions = new Map<string, number>();
    for (const [name, value] of values) {
      const now = current.get(name);
      if (now?.Value === value) {
        versions.set(name, now.Version ?? 1);
        continue;
      }
      const tier = Buffer.byteLength(value) > STANDARD_MAX ? 'Advanced' : 'Standard';
      // Tags cannot be given together with Overwrite: tag on create, overwrite without.
      const out = await s.send(
        s.clients.ssm,
        new PutParameterCommand(
          now
            ? { Name: name, Value: value, Type: 'SecureString', Tier: tier, Overwrite: true }
            : { Name: name, Value: value, Type: 'SecureString', Tier: tier, Tags: tags },
        ),
      );
      versions.set(name, out.Version ?? 1);
    }
    const stale = [...current.keys()].filter((n) => !values.has(n));
    if (stale.length > 0) await this.remove(s, stale);
    const list = [...versions].map(([n, v]) => `${n}@${v}`).sort();
    this.cache.set(base, { digest, versions: list });
    return list;
  }

  /** Deletes every parameter of an instance (idempotent). */
  async deleteAll(s: AwsSession, instanceId: string): Promise<void> {
    const base = instancePath(s.settings.ssmPrefix, instanceId);
    this.cache.delete(base);
    const names = [...(await this.list(s, base)).keys()];
    if (names.length > 0) await this.remove(s, names);
  }

  /**
   * Deletion policy Retain: a released EC2 instance reads these at every boot, so they are kept (Retain never
   * deletes), with our ownership tags (`ownerKeys`) replaced by the release mark; their names go into the
   * Retained Event so they can be deleted with the instance. `reader` (the released EC2 instance) is marked
   * too: if that instance is adopted back and later terminated by us, `deleteReleasedWith` removes them.
   * Idempotent.
   */
  async release(
    s: AwsSession,
    instanceId: string,
    ownerKeys: string[],
    reader: string | undefined,
  ): Promise<string[]> {
    const base = instancePath(s.settings.ssmPrefix, instanceId);
    this.cache.delete(base);
    const names = [...(await this.list(s, base, false)).keys()].sort();
    // Marked before untagged: an interrupted release leaves them findable either way.
    for (const name of names) {
      await s.send(
        s.clients.ssm,
        new AddTagsToResourceCommand({
          ResourceType: 'Parameter',
          ResourceId: name,
          Tags: [
            { Key: TAG_RELEASED_BY, Value: tagValue(s.managedBy) },
            ...(reader ? [{ Key: TAG_RELEASED_WITH, Value: reader }] : []),
          ],
        }),
      );
      await s.send(
        s.clients.ssm,
        new RemoveTagsFromResourceCommand({
          ResourceType: 'Parameter',
          ResourceId: name,
          TagKeys: ownerKeys,
        }),
      );
    }
    return names;
  }

  /**
   * The EC2 instance `ec2Id` is terminated: parameters we released with it (our release mark, its id, under
   * our prefix) have no reader left and are deleted. Returns their names.
   */
  async deleteReleasedWith(s: AwsSession, ec2Id: string): Promise<string[]> {
    const names: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await s.send(
        s.clients.ssm,
        new DescribeParametersCommand({
          ParameterFilters: [
            { Key: `tag:${TAG_RELEASED_BY}`, Values: [tagValue(s.managedBy)] },
            { Key: `tag:${TAG_RELEASED_WITH}`, Values: [ec2Id] },
          ],
          NextToken,
        }),
      );
      for (const p of page.Parameters ?? [])
        if (p.Name?.startsWith(`${s.settings.ssmPrefix}/`)) names.push(p.Name);
      NextToken = page.NextToken;
    } while (NextToken);
    if (names.length > 0) {
      await this.remove(s, names);
      s.log.info('deleted parameters released with a terminated instance', { ec2: ec2Id, names });
    }
    return names;
  }

  private async list(s: AwsSession, base: string, decrypt = true): Promise<Map<string, Parameter>> {
    const out = new Map<string, Parameter>();
    let NextToken: string | undefined;
    do {
      const page = await s.send(
        s.clients.ssm,
        new GetParametersByPathCommand({ Path: base, Recursive: true, WithDecryption: decrypt, NextToken }),
      );
      for (const p of page.Parameters ?? []) if (p.Name) out.set(p.Name, p);
      NextToken = page.NextToken;
    } while (NextToken);
    return out;
  }

  private async remove(s: AwsSession, names: string[]): Promise<void> {
    for (let i = 0; i < names.length; i += 10) {
      try {
        await s.send(s.clients.ssm, new DeleteParametersCommand({ Names: names.slice(i, i + 10) }));
      } catch (err) {
        if (errorCode(err) !== 'ParameterNotFound') throw err;
      }
    }
  }
}
