/** The GCP backend's pure parts: names, request ids, labels, settings, firewall mapping, error catalogue, filters. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInstanceRef } from '../../src/backends/gcp/adopt.ts';
import { classify } from '../../src/backends/gcp/errors.ts';
import { allowedOf, sourcesOf } from '../../src/backends/gcp/firewall.ts';
import {
  firewallName,
  gceName,
  instanceMark,
  labelValue,
  markDescription,
  parseMark,
  requestId,
} from '../../src/backends/gcp/names.ts';
import { networkRange } from '../../src/backends/gcp/network.ts';
import { resolveSettings, zoneFor } from '../../src/backends/gcp/settings.ts';
import { compileFilter } from '../../src/localenv/emulators/gcplocal/realism.ts';

const GCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

describe('gcp backend (pure parts)', () => {
  it('reads adopt references: a link (with or without the API root), a zone path, a bare name', () => {
    const want = { zone: 'us-central1-a', name: 'web-1' };
    assert.deepEqual(parseInstanceRef('p', 'projects/p/zones/us-central1-a/instances/web-1'), want);
    assert.deepEqual(
      parseInstanceRef(
        'p',
        'https://compute.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instances/web-1',
      ),
      want,
    );
    assert.deepEqual(parseInstanceRef('p', 'zones/us-central1-a/instances/web-1'), want);
    assert.deepEqual(parseInstanceRef('p', 'web-1'), { name: 'web-1' });
    assert.throws(() => parseInstanceRef('p', 'projects/q/zones/z/instances/web-1'), /in project q/);
    assert.throws(() => parseInstanceRef('p', 'i-0123/../x'), /not a GCE instance/);
  });

  it("takes an instance's owner from the mark naming its id label: an adopter's record over a former owner's description", () => {
    const owner = (name: string) => ({
      cluster: 'c',
      namespace: 'ns',
      kind: 'Instance' as const,
      name,
      uid: name,
    });
    const mark = (id: string) => markDescription({ managedBy: 'm', kind: 'instance', id, owner: owner(id) });
    const kept = { description: mark('inst-kept'), labels: {} };
    assert.equal(instanceMark(kept)?.id, 'inst-kept', 'no id label: the description');
    const adopted = {
      description: mark('inst-kept'),
      labels: { 'datum-id': 'inst-adopter' },
      metadata: {
        items: [
          { key: 'team', value: 'ops' },
          { key: 'datum-owner', value: mark('inst-adopter') },
        ],
      },
    };
    assert.equal(instanceMark(adopted)?.owner.name, 'inst-adopter');
    assert.equal(
      instanceMark({ ...adopted, metadata: { items: [] } }),
      undefined,
      'a stale description never names the owner',
    );
  });

  it('derives valid, deterministic, distinct GCE names from any id', () => {
    const ids = [
      'a',
      'orphans-0',
      'UPPER_case.id/with:stuff',
      '-',
      '9starts-with-digit',
      'x'.repeat(300),
      '日本語',
    ];
    const names = ids.map((id) => gceName('vm', id));
    for (const n of [...names, ...ids.map((id) => firewallName(id, 3, 12))]) assert.match(n, GCE_NAME, n);
    assert.equal(new Set(names).size, ids.length);
    assert.equal(gceName('vm', 'a'), gceName('vm', 'a'));
    assert.notEqual(gceName('vm', 'a'), gceName('net', 'a'));
  });

  it('derives request ids as UUIDs, stable per request and different per operation', () => {
    const a = requestId('p', 'z', 'n', 'insert', 'spec1');
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(a, requestId('p', 'z', 'n', 'insert', 'spec1'));
    assert.notEqual(a, requestId('p', 'z', 'n', 'insert', 'spec2'));
    assert.notEqual(a, requestId('p', 'z', 'n', 'delete', 'spec1'));
  });

  it('keeps label values within GCE rules', () => {
    assert.equal(labelValue('project-a'), 'project-a');
    for (const v of ['Project.A', 'x'.repeat(80), 'a/b c', 'É'])
      assert.match(labelValue(v), /^[a-z0-9_-]{1,63}$/, v);
    assert.notEqual(labelValue('A'), labelValue('a-'));
  });

  it('round-trips the ownership mark and ignores foreign descriptions', () => {
    const m = {
      managedBy: 'i1',
      kind: 'network' as const,
      id: 'n',
      owner: { cluster: 'c', namespace: 'ns', kind: 'NetworkContext' as const, name: 'x', uid: 'u' },
    };
    assert.deepEqual(parseMark(markDescription(m)), m);
    assert.equal(parseMark('a network someone made'), undefined);
    assert.equal(parseMark('datum-provider-ts managed:{broken'), undefined);
    assert.ok(markDescription(m).length < 2048);
  });

  it('places Locations by city code, name or topology, and refuses what is not GCE', () => {
    const s = resolveSettings(
      {},
      { zones: 'DFW=us-south1-a,ns/lhr=europe-west2-b,edge-7=asia-east1-c' },
      'us-east-1',
    );
    assert.equal(zoneFor(s, { namespace: 'ns', name: 'x', cityCode: 'DFW', topology: {} }), 'us-south1-a');
    assert.equal(zoneFor(s, { namespace: 'ns', name: 'lhr', topology: {} }), 'europe-west2-b');
    assert.equal(
      zoneFor(s, { namespace: 'ns', name: 'y', topology: { 'topology.datum.net/site': 'edge-7' } }),
      'asia-east1-c',
    );
    assert.throws(
      () => zoneFor(s, { namespace: 'ns', name: 'z', topology: {} }),
      /us-east-1.*not a GCE region/,
    );
    assert.equal(
      zoneFor(resolveSettings({}, {}, 'europe-west4'), { namespace: '', name: '', topology: {} }),
      'europe-west4-a',
    );
    assert.throws(() => resolveSettings({}, { zones: 'DFW=texas' }, undefined), /not a GCE zone/);
    assert.throws(
      () => resolveSettings({}, { endpoint: 'http://compute.example.com' }, undefined),
      /only allowed on loopback/,
    );
    assert.throws(() => resolveSettings({}, { project: 'Bad_Project' }, undefined), /not a GCP project id/);
  });

  it('maps network policy to firewall allow lists and source ranges', () => {
    assert.deepEqual(allowedOf({ ports: [], from: [] }), [{ IPProtocol: 'all' }]);
    assert.deepEqual(
      allowedOf({
        ports: [
          { protocol: 'TCP', port: 443 },
          { protocol: 'TCP', port: 8000, endPort: 8080 },
          { protocol: 'UDP' },
          { protocol: 'SCTP', port: 9 },
        ],
        from: [],
      }),
      [
        { IPProtocol: 'sctp', ports: ['9'] },
        { IPProtocol: 'tcp', ports: ['443', '8000-8080'] },
        { IPProtocol: 'udp' },
      ],
    );
    assert.deepEqual(sourcesOf({ ports: [], from: [] }), ['0.0.0.0/0']);
    assert.deepEqual(sourcesOf({ ports: [], from: [{ cidr: '10.0.0.0/30', except: ['10.0.0.1/32'] }] }), [
      '10.0.0.0/32',
      '10.0.0.2/31',
    ]);
    assert.throws(() => sourcesOf({ ports: [], from: [{ cidr: 'nope' }] }), /network policy/);
  });

  it('normalizes subnet ranges', () => {
    assert.equal(networkRange('10.128.3.7/24'), '10.128.3.0/24');
    assert.throws(() => networkRange('10.0.0.0/30'), /prefix/);
  });

  it('classifies API and operation errors', () => {
    const r = (status: number | undefined, reason: string) =>
      classify({ status, reason, message: 'm' }, 'op').reason;
    assert.equal(r(429, 'rateLimitExceeded'), 'Throttled');
    assert.equal(r(403, 'rateLimitExceeded'), 'Throttled');
    assert.equal(r(403, 'quotaExceeded'), 'QuotaExceeded');
    assert.equal(r(undefined, 'ZONE_RESOURCE_POOL_EXHAUSTED'), 'QuotaExceeded');
    assert.equal(r(401, 'authError'), 'CredentialsInvalid');
    assert.equal(r(403, 'forbidden'), 'CredentialsInvalid');
    assert.equal(r(400, 'resourceInUseByAnotherResource'), 'DependencyNotReady');
    assert.equal(r(404, 'notFound'), 'NotFound');
    assert.equal(r(400, 'invalid'), 'InvalidConfiguration');
    assert.equal(r(503, 'backendError'), 'Transient');
    assert.equal(r(undefined, 'ECONNRESET'), 'Transient');
    const e = classify({ status: 401, reason: 'authError', message: 'bad token s3cr3t-value' }, 'op', [
      's3cr3t-value',
    ]);
    assert.match(e.message, /\[redacted\]/);
  });

  it('evaluates the list filter subset the proxy serves', () => {
    const item = { name: 'dpt-vm-a', labels: { 'datum-installation': 'x' } };
    assert.equal(compileFilter('labels.datum-installation = "x"')(item), true);
    assert.equal(compileFilter('labels.datum-installation = "y"')(item), false);
    assert.equal(compileFilter('name eq dpt-vm-.*')(item), true);
    assert.equal(compileFilter('(name eq dpt-vm-.*) (labels.datum-installation != "x")')(item), false);
    assert.equal(compileFilter('name = "dpt-vm-a" AND labels.datum-installation = x')(item), true);
    assert.throws(() => compileFilter('name ~~ what'));
  });
});
