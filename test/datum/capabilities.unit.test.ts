/**
 * Capabilities fail closed: what the backend does not declare is refused with a reason (never ignored),
 * container images are checked against the OCI reference grammar, ProviderConfig maps extend what is
 * accepted, and Running says when it reflects only the machine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AwsBackend } from '../../src/backends/aws/backend.ts';
import { DEFAULT_CAPABILITIES, InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import type { Instance, Location } from '../../src/datum/api/types.ts';
import type { Backend, BackendCapabilities } from '../../src/datum/backend.ts';
import { isImageReference, parseImageReference } from '../../src/datum/imageref.ts';
import { ProviderConfigResolver } from '../../src/datum/providerconfig.ts';
import {
  capabilitiesFor,
  MACHINE_ONLY_NOTE,
  runningCondition,
} from '../../src/datum/reconcilers/capabilities.ts';
import { Refusal, validate } from '../../src/datum/reconcilers/instance-desired.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { NotFoundError } from '../../src/runtime/client/errors.ts';
import { silentLogger } from '../../src/runtime/log/logger.ts';
import { instanceObject } from '../../src/testkit/contract/fixtures.ts';

const loc = { name: 'dfw', namespace: 'p' };
const sandbox = (): Instance => instanceObject({ name: 'x', namespace: 'p', location: loc });
const refusal = (fn: () => void): Refusal => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof Refusal, `a Refusal, not ${err}`);
    return err;
  }
  assert.fail('expected a refusal');
};
const without = (...drop: string[]): BackendCapabilities => ({
  ...DEFAULT_CAPABILITIES,
  features: DEFAULT_CAPABILITIES.features.filter((f) => !drop.includes(f)),
});

describe('features the backend does not declare are refused, not ignored', () => {
  it('network policy', () => {
    const err = refusal(() => validate(sandbox(), without('networkPolicy'), 'edge'));
    assert.equal(err.reason, 'UnsupportedFeature');
    assert.match(
      err.message,
      /spec\.networkInterfaces\[0\]\.networkPolicy is not supported by the edge backend/,
    );
    assert.equal(err.transient, false);
  });

  it('named ports in a network policy', () => {
    const err = refusal(() => validate(sandbox(), without('namedPorts'), 'edge'));
    assert.equal(err.reason, 'UnsupportedFeature');
    assert.match(err.message, /named port 'http'/);
    const numeric = sandbox();
    numeric.spec!.networkInterfaces[0]!.networkPolicy!.ingress![0]!.ports = [{ port: 80 }];
    validate(numeric, without('namedPorts'), 'edge');
  });

  it('imagePullSecrets (no backend here declares them)', () => {
    const inst = sandbox();
    inst.spec!.runtime.sandbox!.imagePullSecrets = [{ name: 'regcred' }];
    const err = refusal(() => validate(inst, DEFAULT_CAPABILITIES, 'inmemory'));
    assert.equal(err.reason, 'UnsupportedFeature');
    assert.match(err.message, /imagePullSecrets/);
    validate(
      inst,
      { ...DEFAULT_CAPABILITIES, features: [...DEFAULT_CAPABILITIES.features, 'imagePullSecrets'] },
      'b',
    );
  });

  it('ssh keys', () => {
    const vm = instanceObject({ name: 'x', namespace: 'p', location: loc, runtime: 'virtualMachine' });
    assert.equal(refusal(() => validate(vm, without('sshKeys'), 'edge')).reason, 'UnsupportedFeature');
    validate(vm, DEFAULT_CAPABILITIES, 'inmemory');
  });

  it('the AWS backend declares what it enforces', () => {
    const caps = new AwsBackend().capabilities();
    validate(sandbox(), caps, 'aws');
    const inst = sandbox();
    inst.spec!.runtime.sandbox!.imagePullSecrets = [{ name: 'regcred' }];
    assert.equal(refusal(() => validate(inst, caps, 'aws')).reason, 'UnsupportedFeature');
  });
});

describe('image references', () => {
  it('refuses a malformed container image, naming the container and the reference', () => {
    const inst = instanceObject({ name: 'x', namespace: 'p', location: loc, image: 'NOT a valid ref!!' });
    const err = refusal(() => validate(inst, new AwsBackend().capabilities(), 'aws'));
    assert.equal(err.reason, 'InvalidImage');
    assert.match(err.message, /container 'app': image 'NOT a valid ref!!' is not a valid image reference/);
  });

  it('follows the OCI reference grammar', () => {
    const digest = 'a'.repeat(64);
    for (const ok of [
      'nginx',
      'nginx:1.27',
      'library/nginx:1.27-alpine',
      'docker.io/library/nginx:1.27',
      'ghcr.io/datum-cloud/app_x.y:v1.2.3-rc_1',
      'localhost/app',
      'localhost:5000/a/b',
      'registry.example.com:5000/team/app@sha256:' + digest,
      `app:1.0@sha256:${digest}`,
      '[::1]:5000/app',
      'Registry/app', // an upper-case first component is a registry host (docker's rule)
      'a__b/c--d/e.f',
      `app:${'t'.repeat(128)}`,
    ])
      assert.ok(isImageReference(ok), `${ok} is valid: ${JSON.stringify(parseImageReference(ok))}`);
    for (const bad of [
      '',
      ' nginx',
      'NOT a valid ref!!',
      'Nginx',
      'nginx:',
      ':1.0',
      'a//b',
      'a/',
      '-a',
      'a-',
      'a_-b',
      'nginx:-tag',
      `app:${'t'.repeat(129)}`,
      'app@sha256:abc',
      `app@sha256:${'a'.repeat(63)}`,
      `app@md5:${'x'.repeat(32)}`,
      `${'a'.repeat(256)}`,
      'registry.example.com:port/app',
    ])
      assert.equal(isImageReference(bad), false, `${JSON.stringify(bad)} is invalid`);
    assert.deepEqual(parseImageReference(`reg.io:5000/a/b:v1@sha256:${digest}`), {
      domain: 'reg.io:5000',
      path: 'a/b',
      tag: 'v1',
      digest: `sha256:${digest}`,
    });
    assert.equal((parseImageReference('library/nginx') as { domain?: string }).domain, undefined);
  });
});

/** A home cluster serving the given ProviderConfigs (undefined: the CRD is not installed). */
function home(pcs: Record<string, unknown>[] | undefined): HttpClient {
  return {
    async list() {
      if (!pcs) throw new NotFoundError(404, 'NotFound', 'the server could not find the requested resource');
      return { items: pcs };
    },
  } as unknown as HttpClient;
}
const location = (name: string, city = 'DFW'): Location => ({
  metadata: { name, namespace: 'p' },
  spec: { locationClassName: 'c', topology: { 'topology.datum.net/city-code': city }, provider: {} },
});
const provider = (pcs: Record<string, unknown>[] | undefined, backend: Backend = new AwsBackend()) => {
  const settings = defaultSettings();
  return {
    backend,
    settings,
    resolver: new ProviderConfigResolver(home(pcs), settings, undefined, { log: silentLogger }),
  };
};

describe('capabilities per ProviderConfig', () => {
  const pcs = [
    {
      metadata: { name: 'big' },
      spec: {
        credentials: { source: 'InjectedIdentity' },
        locations: { names: ['p/dfw'] },
        config: {
          instanceTypes: 'datumcloud/d1-xlarge=m6i.4xlarge',
          images: 'datumcloud/debian-12=ami-0123456789abcdef0',
        },
      },
    },
    { metadata: { name: 'default' }, spec: { credentials: { source: 'InjectedIdentity' } } },
  ];
  const xlarge = () =>
    instanceObject({ name: 'x', namespace: 'p', location: loc, instanceType: 'datumcloud/d1-xlarge' });

  it('an instance type or image added by the serving ProviderConfig is accepted there, and only there', async () => {
    for (const backend of [new AwsBackend(), new InMemoryBackend()]) {
      const p = provider(pcs, backend);
      const here = await capabilitiesFor(p, location('dfw'));
      validate(xlarge(), here, backend.name);
      assert.ok(here.images?.includes('datumcloud/debian-12'), `${backend.name}: image from the map`);
      const elsewhere = await capabilitiesFor(p, location('lhr', 'LHR'));
      assert.equal(refusal(() => validate(xlarge(), elsewhere, backend.name)).reason, 'UnknownInstanceType');
      // The one named (where a resource was recorded) wins over the Location's current choice.
      const named = await capabilitiesFor(p, location('lhr', 'LHR'), 'big');
      validate(xlarge(), named, backend.name);
    }
  });

  it('the settings backendConfig maps count too, under the ProviderConfig', async () => {
    const p = provider([]);
    p.settings.backendConfig = { instanceTypes: 'datumcloud/d1-xlarge=m6i.4xlarge' };
    validate(xlarge(), await capabilitiesFor(p, location('dfw')), 'aws');
  });

  it('a missing CRD, a missing named ProviderConfig and a bad config map are refusals re-checked on a timer', async () => {
    const noCrd = await capabilitiesFor(provider(undefined), location('dfw')).catch((e) => e);
    assert.ok(noCrd instanceof Refusal);
    assert.equal(noCrd.reason, 'CredentialsUnavailable');
    assert.equal(noCrd.transient, true);
    assert.match(
      noCrd.message,
      /ProviderConfig CRD \(providerconfigs\.infra\.provider-ts\.io\) is not installed/,
    );
    const gone = await capabilitiesFor(provider(pcs), location('dfw'), 'removed').catch((e) => e);
    assert.equal(gone.reason, 'CredentialsUnavailable');
    const bad = [{ ...pcs[0], spec: { ...pcs[0]!.spec, config: { instanceTypes: 'no-equals-sign' } } }];
    const invalid = await capabilitiesFor(provider(bad), location('dfw')).catch((e) => e);
    assert.equal(invalid.reason, 'InvalidConfiguration');
    assert.match(invalid.message, /^ProviderConfig big: /);
  });
});

describe('Running claims only what the backend observes', () => {
  it('a sandbox on a VM-hosted backend: running is the machine', () => {
    const aws = new AwsBackend().capabilities();
    assert.equal(aws.reportsContainerState, false);
    const [status, reason, message] = runningCondition('running', sandbox(), aws);
    assert.deepEqual([status, reason], ['True', 'Running']);
    assert.equal(message, `Instance is running ${MACHINE_ONLY_NOTE}`);
    assert.match(message, /container state is not reported/);
  });

  it('a VM, or a backend that reports container state: plain', () => {
    const vm = instanceObject({ name: 'x', namespace: 'p', location: loc, runtime: 'virtualMachine' });
    assert.equal(runningCondition('running', vm, new AwsBackend().capabilities())[2], 'Instance is running');
    assert.equal(runningCondition('running', sandbox(), DEFAULT_CAPABILITIES)[2], 'Instance is running');
    assert.deepEqual(runningCondition('pending', sandbox(), new AwsBackend().capabilities()), [
      'False',
      'Starting',
      'Instance is starting',
    ]);
  });
});
