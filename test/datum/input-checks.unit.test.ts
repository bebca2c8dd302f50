/** Input checks the CRDs do not make: each malformed value is refused with InvalidConfiguration, each good one passes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkIpBlock,
  checkItemPath,
  checkPortRange,
  checkSshKey,
  diskSizeGiB,
} from '../../src/datum/reconcilers/input-checks.ts';
import { Refusal } from '../../src/datum/reconcilers/refusal.ts';

const refused = (f: () => unknown) =>
  assert.throws(f, (e: unknown) => e instanceof Refusal && e.reason === 'InvalidConfiguration');

describe('input checks', () => {
  it('ssh keys: OpenSSH public keys for valid login names only', () => {
    checkSshKey('ubuntu', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoodKeyBody me@example');
    checkSshKey('deploy_1', 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=');
    for (const [user, key] of [
      ['ubuntu', ''],
      ['ubuntu', 'not-a-key'],
      ['ubuntu', 'ssh-rsa'],
      ['-rf', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoodKeyBody'],
      ['bad user', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoodKeyBody'],
      ['root;reboot', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoodKeyBody'],
      ['x'.repeat(300), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoodKeyBody'],
    ])
      refused(() => checkSshKey(user!, key!));
  });

  it('volume item paths stay inside their mount', () => {
    checkItemPath('cfg', 'app.conf');
    checkItemPath('cfg', 'sub/dir/app.conf');
    for (const p of ['../../etc/shadow', '/etc/shadow', '..', 'a/../../b', '', 'a//b'])
      refused(() => checkItemPath('cfg', p));
  });

  it('disk sizes are storage quantities between 1Gi and 64Ti, rounded up to GiB', () => {
    assert.equal(diskSizeGiB('20Gi'), 20);
    assert.equal(diskSizeGiB('50G'), 47);
    assert.equal(diskSizeGiB(String(2 ** 31)), 2);
    assert.equal(diskSizeGiB('1Ti'), 1024);
    for (const q of ['20', 20, '0', '0Gi', '99999999999999999999Gi', '65Ti', '-1Gi', '20GB', 'lots'])
      refused(() => diskSizeGiB(q));
  });

  it('network policy CIDRs and ports', () => {
    checkIpBlock('0.0.0.0/0', ['10.0.0.0/8']);
    checkIpBlock('192.0.2.0/24', undefined);
    checkIpBlock('2001:db8::/32', ['2001:db8:1::/48']);
    for (const [cidr, except] of [
      ['10.0.0.0', undefined],
      ['not-a-cidr', undefined],
      ['10.0.0.0/33', undefined],
      ['300.0.0.0/8', undefined],
      ['10.0.0.0/8', ['192.168.0.0/16']],
      ['10.0.0.0/16', ['10.0.0.0/8']],
    ] as const)
      refused(() => checkIpBlock(cidr, except as string[] | undefined));
    checkPortRange(80, undefined);
    checkPortRange(8000, 8080);
    for (const [port, end] of [
      [0, undefined],
      [70_000, undefined],
      [99_999, undefined],
      [80, 70_000],
      [8080, 8000],
    ] as const)
      refused(() => checkPortRange(port, end));
  });
});
