/** The vSphere backend's pure parts: XML escaping and parsing, fault typing, error mapping, allocations, settings. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allocateAddress, inCidr, netmask } from '../../src/backends/vsphere/addresses.ts';
import { toBackendError } from '../../src/backends/vsphere/errors.ts';
import {
  DuplicateName,
  InsufficientResourcesFault,
  InvalidLogin,
  InvalidState,
  TlsVerificationError,
  VimFault,
  VimTransportError,
  vimFault,
} from '../../src/backends/vsphere/faults.ts';
import { guestinfo } from '../../src/backends/vsphere/guestinfo.ts';
import { allocateVlan } from '../../src/backends/vsphere/network.ts';
import { resolveSettings } from '../../src/backends/vsphere/settings.ts';
import { faultOf } from '../../src/backends/vsphere/transport.ts';
import { el, envelope, parseXml } from '../../src/backends/vsphere/xml.ts';
import { instance } from './vsphere-fixtures.ts';

describe('vsphere unit', () => {
  it('escapes hostile text in envelopes and reads it back unchanged', () => {
    const hostile = `a<b>&"c'</name><password>x</password>`;
    const xml = envelope(`<Op xmlns="urn:vim25">${el('name', hostile)}</Op>`);
    assert.equal(xml.includes('<password>'), false);
    assert.equal(parseXml(xml).Envelope.Body.Op.name, hostile);
    // Go's encoder writes quotes as numeric references.
    assert.equal(parseXml('<v>{&#34;a&#34;:1}</v>').v, '{"a":1}');
  });

  it('types SOAP faults by their xsi:type', () => {
    const doc = parseXml(
      '<Envelope><Body><Fault><faultcode>ServerFaultCode</faultcode><faultstring>Login failure</faultstring>' +
        '<detail><InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault></detail>' +
        '</Fault></Body></Envelope>',
    );
    const f = faultOf('Login', doc.Envelope.Body.Fault);
    assert.ok(f instanceof InvalidLogin);
    assert.equal(f.message, 'Login: InvalidLogin: Login failure');
    assert.ok(
      vimFault('InvalidPowerState', 'op', '') instanceof InvalidState,
      'subtypes map to their parent',
    );
    const unknown = vimFault('SomethingNew', 'op', 'x');
    assert.equal(unknown.constructor, VimFault);
    assert.equal(unknown.faultType, 'SomethingNew');
  });

  it('maps errors to catalogue reasons and redacts credential values', () => {
    const pw = 'hunter2-password';
    const cases: [unknown, string, boolean][] = [
      [vimFault('InvalidLogin', 'Login', `bad ${pw}`), 'CredentialsInvalid', false],
      [vimFault('NotAuthenticated', 'x', ''), 'CredentialsInvalid', false],
      [vimFault('NoPermission', 'x', ''), 'CredentialsInvalid', false],
      [vimFault('TaskInProgress', 'x', ''), 'Transient', true],
      [new InvalidState('InvalidState', 'x', ''), 'Transient', true],
      [new InsufficientResourcesFault('InsufficientResourcesFault', 'x', ''), 'QuotaExceeded', true],
      [vimFault('InvalidArgument', 'x', ''), 'InvalidConfiguration', false],
      [vimFault('ResourceInUse', 'x', ''), 'DependencyNotReady', true],
      [new DuplicateName('DuplicateName', 'x', ''), 'Transient', true],
      [new VimTransportError('x: HTTP 503', { status: 503 }), 'Transient', true],
      [new VimTransportError('x: HTTP 403', { status: 403 }), 'CredentialsInvalid', false],
      [new TlsVerificationError('pin'), 'InvalidConfiguration', false],
      [new Error(`boom ${pw}`), 'Transient', true],
    ];
    for (const [err, reason, retryable] of cases) {
      const b = toBackendError(err, 'vsphere op', [pw]);
      assert.equal(b.reason, reason, String(err));
      assert.equal(b.retryable, retryable, String(err));
      assert.equal(b.message.includes(pw), false);
    }
  });

  it('allocates VLANs and addresses deterministically, past taken ones', () => {
    const v = allocateVlan('net-a', [100, 3999], new Set());
    assert.equal(allocateVlan('net-a', [100, 3999], new Set()), v);
    assert.notEqual(allocateVlan('net-a', [100, 3999], new Set([v])), v);
    assert.throws(() => allocateVlan('x', [10, 11], new Set([10, 11])), { reason: 'QuotaExceeded' });
    const taken = new Set<string>();
    for (let i = 0; i < 5; i++) taken.add(allocateAddress('vm', '10.0.0.0/29', taken));
    assert.deepEqual([...taken].sort(), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    assert.throws(() => allocateAddress('vm', '10.0.0.0/29', taken), { reason: 'QuotaExceeded' });
    assert.equal(inCidr('10.128.3.4', '10.128.0.0/16'), true);
    assert.equal(inCidr('10.129.3.4', '10.128.0.0/16'), false);
    assert.equal(netmask(20), '255.255.240.0');
  });

  it('reads settings: per-city placement, instance types, refusals', () => {
    const s = resolveSettings(
      {
        endpoint: 'https://vc/sdk',
        datacenter: 'DC0',
        'datacenter.LHR': 'London',
        instanceTypes: 'x/y=4x16384',
      },
      'LHR',
    );
    assert.equal(s.placement.datacenter, 'London');
    assert.deepEqual(s.instanceTypes['x/y'], { cpus: 4, memoryMiB: 16384 });
    assert.ok(s.instanceTypes['datumcloud/d1-standard-2']);
    assert.throws(() => resolveSettings({ endpoint: 'http://vc/sdk' }), { reason: 'InvalidConfiguration' });
    assert.throws(() => resolveSettings({ instanceTypes: 'a=big' }), { reason: 'InvalidConfiguration' });
    assert.throws(() => resolveSettings({ vlanRange: '0-5000' }), { reason: 'InvalidConfiguration' });
  });

  it('writes ssh keys and plain files into cloud-init guestinfo', () => {
    const d = instance('vm-1', 'n', 's');
    if (d.runtime.kind === 'virtualMachine')
      d.runtime.files.push({
        path: '/etc/motd',
        data: Buffer.from('hello').toString('base64'),
        sensitive: false,
      });
    const g = guestinfo(d, 'datum-vm-1');
    const userdata = Buffer.from(g['guestinfo.userdata']!, 'base64').toString();
    assert.match(userdata, /^#cloud-config\n/);
    assert.match(userdata, /ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest/);
    assert.match(userdata, /path: \/etc\/motd/);
    assert.equal(g['guestinfo.userdata.encoding'], 'base64');
    assert.deepEqual(JSON.parse(Buffer.from(g['guestinfo.metadata']!, 'base64').toString()), {
      'instance-id': 'vm-1',
      'local-hostname': 'datum-vm-1',
    });
  });
});
