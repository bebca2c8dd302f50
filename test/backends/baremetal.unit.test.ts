/** The bare-metal backend's pure parts: settings, host selection, addresses, the config drive and its ISO. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { addressFor } from '../../src/backends/baremetal/addresses.ts';
import { seedFiles } from '../../src/backends/baremetal/configdrive.ts';
import { nftRuleset } from '../../src/backends/baremetal/firewall.ts';
import { fits, servesSite } from '../../src/backends/baremetal/inventory.ts';
import { buildIso } from '../../src/backends/baremetal/iso.ts';
import { mapStatus } from '../../src/backends/baremetal/redfish.ts';
import type { BareMetalHost } from '../../src/backends/baremetal/resources.ts';
import { parseSettings } from '../../src/backends/baremetal/settings.ts';
import type { BackendError, InstanceDesired } from '../../src/datum/backend.ts';

const host = (site: Record<string, string>, cpu = 4, memoryGiB = 16, gpus = 0): BareMetalHost => ({
  metadata: { name: 'h' },
  spec: {
    bmc: { address: '', credentialsSecretRef: { namespace: '', name: '' } },
    capacity: { cpu, memoryGiB, gpus },
    site,
  },
});

describe('bare-metal backend (pure parts)', () => {
  it('parses its settings and refuses bad ones with InvalidConfiguration', () => {
    const s = parseSettings({ images: 'a/b=http://x/a.iso', instanceTypes: 'g/big=16:64:2' });
    assert.equal(s.images['a/b'], 'http://x/a.iso');
    assert.deepEqual(s.instanceTypes['g/big'], { cpu: 16, memoryGiB: 64, gpus: 2 });
    assert.ok(s.instanceTypes['datumcloud/d1-standard-2'], 'defaults kept');
    const bads: Record<string, string>[] = [
      { images: 'a/b' },
      { images: 'a/b=ftp://x' },
      { instanceTypes: 'x=lots' },
      { powerRetryMs: '-1' },
    ];
    for (const bad of bads)
      assert.throws(
        () => parseSettings(bad),
        (e: BackendError) => e.reason === 'InvalidConfiguration',
      );
  });

  it('selects by capacity and by site labels (a host serves Locations whose topology has all of them)', () => {
    const need = { cpu: 2, memoryGiB: 8, gpus: 0 };
    assert.equal(fits(host({}, 2, 8), need), true);
    assert.equal(fits(host({}, 1, 64), need), false);
    assert.equal(fits(host({}, 8, 64, 0), { ...need, gpus: 1 }), false);
    const topo = { 'topology.datum.net/city-code': 'DFW', 'topology.datum.net/region': 'us-east-1' };
    assert.equal(servesSite(host({ 'topology.datum.net/city-code': 'DFW' }), topo), true);
    assert.equal(servesSite(host({ 'topology.datum.net/city-code': 'LHR' }), topo), false);
    assert.equal(servesSite(host({}), topo), true);
  });

  it('gives the address inside the subnet, else the first', () => {
    assert.equal(addressFor(['10.130.0.5', '10.128.0.5'], '10.128.0.0/20'), '10.128.0.5');
    assert.equal(addressFor(['192.0.2.1'], '10.128.0.0/20'), '192.0.2.1');
    assert.equal(addressFor([], '10.128.0.0/20'), undefined);
  });

  it('maps Redfish statuses to the catalogue', () => {
    const r = (s: number) => mapStatus(s, 'x', '').reason;
    assert.deepEqual([401, 403, 400, 404, 409, 429, 500, 503].map(r), [
      'CredentialsInvalid',
      'CredentialsInvalid',
      'InvalidConfiguration',
      'InvalidConfiguration',
      'Transient',
      'Throttled',
      'Transient',
      'Transient',
    ]);
    assert.equal(mapStatus(400, 'x', '').retryable, false);
    assert.equal(mapStatus(409, 'x', '').retryable, true);
  });

  it('builds a NoCloud seed with the keys, the ingress rules and only non-sensitive files, as an ISO labelled cidata', () => {
    const desired: InstanceDesired = {
      id: 'inst-1',
      owner: { cluster: 'c', namespace: 'n', kind: 'Instance', name: 'vm-0', uid: '1' },
      instanceType: 'datumcloud/d1-standard-2',
      runtime: {
        kind: 'virtualMachine',
        image: 'i',
        diskSizeGiB: 20,
        ports: [],
        files: [
          { path: '/etc/app.conf', data: Buffer.from('plain').toString('base64'), sensitive: false },
          { path: '/etc/secret', data: Buffer.from('s3cr3t').toString('base64'), sensitive: true },
        ],
      },
      interfaces: [
        {
          networkId: 'n',
          subnetId: 's',
          ingress: [{ ports: [{ protocol: 'TCP', port: 22 }], from: [{ cidr: '192.0.2.0/24' }] }],
        },
      ],
      sshKeys: [{ user: 'ubuntu', key: 'ssh-ed25519 AAAA k' }],
      templateHash: 'h',
    };
    const files = seedFiles(desired);
    const user = files.find((f) => f.name === 'user-data')!.data.toString();
    assert.match(user, /^#cloud-config\n/);
    assert.match(user, /ssh-ed25519 AAAA k/);
    assert.match(user, /\/etc\/app\.conf/);
    assert.equal(
      user.includes('/etc/secret') || user.includes(Buffer.from('s3cr3t').toString('base64')),
      false,
    );
    assert.match(nftRuleset(desired.interfaces[0]!.ingress), /ip saddr 192\.0\.2\.0\/24 tcp dport 22 accept/);
    assert.match(nftRuleset([]), /policy drop/);
    const iso = buildIso('cidata', files);
    assert.equal(iso.length % 2048, 0);
    assert.equal(iso.subarray(16 * 2048 + 1, 16 * 2048 + 6).toString(), 'CD001');
    for (const f of files) assert.ok(iso.includes(f.data), `${f.name} content in the image`);
    // blkid (util-linux) reads it as an ISO 9660 filesystem labelled cidata, which is what cloud-init looks for.
    const dir = mkdtempSync(join(tmpdir(), 'seed-'));
    try {
      writeFileSync(join(dir, 'seed.iso'), iso);
      let out = '';
      try {
        out = execFileSync('blkid', ['-p', join(dir, 'seed.iso')], { encoding: 'utf8' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        return; // no blkid here: the byte-level checks above still ran
      }
      assert.match(out, /LABEL="cidata"/);
      assert.match(out, /TYPE="iso9660"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
