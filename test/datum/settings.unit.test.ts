/** Settings files: every field, nested ones included, is checked by name and type, with its full path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSettings, SettingsError } from '../../src/datum/settings.ts';

const HEAD = 'apiVersion: infra.provider-ts.io/v1alpha1\nkind: ProviderSettings\n';
const parse = (body: string) => parseSettings(HEAD + body, 'settings.yaml');
const refuses = (body: string, message: RegExp) =>
  assert.throws(
    () => parse(body),
    (err: unknown) => err instanceof SettingsError && message.test(err.message),
  );

describe('settings validation', () => {
  it('accepts a complete document and keeps the defaults of what it leaves out', () => {
    const s = parse(
      [
        'locationClassName: my-class',
        'backend: aws',
        'discovery: { mode: milo, discoveryKubeconfig: /etc/d.kubeconfig, labelSelector: "a=b" }',
        'homeKubeconfig:', // empty: not set
        'leaderElection: { enabled: true, leaseDurationSeconds: 30 }',
        'imageMap: { datumcloud/ubuntu-2204-lts: ami-0123 }',
        'backendConfig: { endpoint: "http://127.0.0.1:5000", maxAttempts: 3, assignPublicIp: false }',
        'resyncSeconds: 60',
      ].join('\n'),
    );
    assert.equal(s.discovery.mode, 'milo');
    assert.equal(s.homeKubeconfig, undefined);
    assert.equal(s.leaderElection.leaseDurationSeconds, 30);
    assert.equal(s.leaderElection.renewDeadlineSeconds, 10); // default kept
    assert.deepEqual(s.imageMap, { 'datumcloud/ubuntu-2204-lts': 'ami-0123' });
    assert.deepEqual(s.backendConfig, {
      endpoint: 'http://127.0.0.1:5000',
      maxAttempts: '3',
      assignPublicIp: 'false',
    });
  });

  it('names the full path of an unknown nested key', () => {
    refuses(
      'leaderElection: { enabled: true, leaseDurationSecond: 15 }',
      /^settings\.yaml: unknown field 'leaderElection\.leaseDurationSecond' \(leaderElection accepts: enabled, namespace, name, leaseDurationSeconds,/,
    );
    refuses(
      'discovery: { mode: single, projectKubeConfig: /x }',
      /unknown field 'discovery\.projectKubeConfig'/,
    );
    refuses('locationClasName: typo', /unknown field 'locationClasName' \(the top level accepts: apiVersion/);
  });

  it('names the full path of a mistyped nested value', () => {
    refuses('leaderElection: { enabled: "yes" }', /leaderElection\.enabled must be a boolean, not "yes"/);
    refuses(
      'leaderElection: { leaseDurationSeconds: 1.5 }',
      /leaderElection\.leaseDurationSeconds must be an integer/,
    );
    refuses('leaderElection: true', /leaderElection must be a mapping, not true/);
    refuses('discovery: { mode: [single] }', /discovery\.mode must be a string/);
    refuses('imageMap: { datumcloud/ubuntu: { ami: x } }', /imageMap\.datumcloud\/ubuntu must be a string/);
    refuses('backendConfig: { images: [a, b] }', /backendConfig\.images must be a string, number or boolean/);
    refuses('resyncSeconds: soon', /resyncSeconds must be an integer, not "soon"/);
  });
});
