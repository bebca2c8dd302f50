/**
 * deploy/aws/iam-policy.json, read as data: every AWS call the backend makes is granted, nothing that changes
 * a resource is granted without a condition tying it to this installation's tag, and route changes are scoped
 * to route tables carrying that tag (the one scoping EC2 offers for routes).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

interface Statement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}
const policy = JSON.parse(
  readFileSync(new URL('../../deploy/aws/iam-policy.json', import.meta.url), 'utf8'),
) as { Statement: Statement[] };
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
const allows = (action: string) => policy.Statement.filter((s) => list(s.Action).includes(action));
const condition = (s: Statement, key: string) =>
  Object.values(s.Condition ?? {}).find((c) => key in c)?.[key];
const TAG = 'datum.net/managed-by';
const RELEASED = 'datum.net/released-by';

/** `ec2:X` / `ssm:X` for every `new XCommand` in the backend's sources. */
function backendActions(): string[] {
  const dir = new URL('../../src/backends/aws/', import.meta.url);
  const out = new Set<string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    const text = readFileSync(new URL(f, dir), 'utf8');
    const ssm = text.includes("from '@aws-sdk/client-ssm'");
    for (const m of text.matchAll(/new (\w+)Command\(/g)) out.add(`${ssm ? 'ssm' : 'ec2'}:${m[1]}`);
  }
  return [...out].sort();
}

describe('deploy/aws/iam-policy.json', () => {
  it('grants every call the backend makes', () => {
    const actions = backendActions();
    assert.ok(actions.includes('ec2:RunInstances') && actions.includes('ssm:PutParameter'), actions.join());
    const missing = actions.filter((a) => allows(a).length === 0);
    assert.deepEqual(missing, [], 'every AWS action the backend sends is in the policy');
  });

  it('scopes every change to resources tagged with this installation', () => {
    const unconditioned = policy.Statement.filter(
      (s) =>
        s.Effect === 'Allow' &&
        list(s.Action).some((a) => a.startsWith('ec2:') && !a.startsWith('ec2:Describe')) &&
        !s.Condition &&
        // Launching may use any image: an AMI is not ours to tag.
        !list(s.Resource).every((r) => r.startsWith('arn:aws:ec2:*::image/')),
    );
    assert.deepEqual(
      unconditioned.map((s) => s.Sid),
      [],
      'no EC2 write without a condition',
    );
    const values = new Set(
      policy.Statement.flatMap((s) =>
        Object.entries(s.Condition ?? {})
          .filter(([op]) => op !== 'Null')
          .flatMap(([, c]) =>
            Object.entries(c)
              .filter(([k]) => k.endsWith(`/${TAG}`))
              .map(([, v]) => String(v)),
          ),
      ),
    );
    // One exact value: the installation id (settings installationId, or AWS backendConfig managedBy).
    assert.deepEqual([...values], ['INSTALLATION_ID']);
  });

  it('changes routes only in route tables tagged as ours, and tags only an untagged one with our keys', () => {
    for (const action of ['ec2:CreateRoute', 'ec2:DeleteRoute']) {
      const granting = allows(action);
      assert.ok(granting.length > 0, `${action} is granted`);
      for (const s of granting) {
        assert.deepEqual(list(s.Resource), ['arn:aws:ec2:*:*:route-table/*'], `${s.Sid}: route tables only`);
        assert.equal(condition(s, `ec2:ResourceTag/${TAG}`), 'INSTALLATION_ID', `${s.Sid}: only ours`);
      }
    }
    const claim = allows('ec2:CreateTags').filter((s) =>
      list(s.Resource).some((r) => r.includes('route-table')),
    );
    assert.equal(claim.length, 1, 'one statement lets the provider tag a route table');
    const s = claim[0]!;
    assert.equal(condition(s, `aws:RequestTag/${TAG}`), 'INSTALLATION_ID');
    assert.equal(condition(s, `ec2:ResourceTag/${TAG}`), 'true', 'only a table nobody tagged (Null)');
    assert.deepEqual(condition(s, 'aws:TagKeys'), [TAG, 'datum.net/id', 'datum.net/kind']);
    // Adoption (the adopt annotation) tags only an instance nobody tagged, with our keys; the launch-spec tag
    // goes only on our instances. Remove AdoptOnlyUntaggedInstances to turn adoption off.
    const adopt = allows('ec2:CreateTags').find((x) => x.Sid === 'AdoptOnlyUntaggedInstances')!;
    assert.equal(
      condition(adopt, `ec2:ResourceTag/${TAG}`),
      'true',
      'adopts only an untagged instance (Null)',
    );
    assert.equal(condition(adopt, `aws:RequestTag/${TAG}`), 'INSTALLATION_ID');
    assert.ok(!list(adopt.Resource).some((r) => !/instance|network-interface/.test(r)), 'instances only');
    const spec = allows('ec2:CreateTags').find((x) => x.Sid === 'MarkTheLaunchSpecOfOurInstances')!;
    assert.equal(condition(spec, `ec2:ResourceTag/${TAG}`), 'INSTALLATION_ID');
    assert.deepEqual(condition(spec, 'aws:TagKeys'), ['datum.net/launch-spec']);
    // Retain marks a security group it lets go, only while it is ours, only with the release mark.
    const mark = allows('ec2:CreateTags').find((x) => x.Sid === 'MarkTheSecurityGroupsWeRelease')!;
    assert.deepEqual(list(mark.Resource), ['arn:aws:ec2:*:*:security-group/*']);
    assert.equal(condition(mark, `ec2:ResourceTag/${TAG}`), 'INSTALLATION_ID');
    assert.equal(condition(mark, `aws:RequestTag/${RELEASED}`), 'INSTALLATION_ID');
    assert.deepEqual(condition(mark, 'aws:TagKeys'), [RELEASED]);
    // Every other CreateTags is bound to a create call.
    for (const other of allows('ec2:CreateTags').filter(
      (x) => x !== s && x !== adopt && x !== spec && x !== mark,
    ))
      assert.ok(condition(other, 'ec2:CreateAction'), `${other.Sid}: tags only while creating`);
  });

  it('deletes a security group it no longer owns only when this installation released it', () => {
    const granting = allows('ec2:DeleteSecurityGroup').filter(
      (s) => condition(s, `aws:ResourceTag/${TAG}`) !== 'INSTALLATION_ID',
    );
    assert.deepEqual(
      granting.map((s) => s.Sid),
      ['DeleteOnlySecurityGroupsWeReleased'],
    );
    const s = granting[0]!;
    assert.deepEqual(list(s.Resource), ['arn:aws:ec2:*:*:security-group/*']);
    assert.equal(condition(s, `ec2:ResourceTag/${RELEASED}`), 'INSTALLATION_ID', 'our release mark');
    assert.equal(condition(s, `ec2:ResourceTag/${TAG}`), 'true', 'and nobody owns it now (Null)');
    // Retain keeps an instance's SSM parameters, untagged: the policy lets it remove their tags.
    assert.ok(allows('ssm:RemoveTagsFromResource').length > 0);
  });
});
