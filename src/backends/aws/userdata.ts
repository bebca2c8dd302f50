/**
 * cloud-init user data for both runtimes. It carries ssh keys, non-sensitive files and env, systemd units,
 * and the names (never the values) of SSM parameters holding secrets, fetched at boot by
 * `/usr/local/sbin/datum-fetch-secrets` with the instance profile's credentials.
 *
 * Sandbox: one systemd unit per container running `docker run --network host` (ports are the host's ports;
 * security groups decide who reaches them); files are bind-mounted read-only; secrets live under /run (tmpfs).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import {
  BackendError,
  type ContainerDesired,
  type FileContent,
  type InstanceDesired,
} from '../../datum/backend.ts';
import type { SecretRef } from './secrets.ts';

/** EC2's limit on user data before base64. */
export const USER_DATA_MAX = 16 * 1024;

const FETCH = '/usr/local/sbin/datum-fetch-secrets';

/** Runs the fetch on every boot: secrets live on tmpfs and must come back after a reboot. */
const SECRETS_UNIT = [
  '[Unit]',
  'Description=Fetch Datum secrets from SSM Parameter Store',
  'After=network-online.target',
  'Wants=network-online.target',
  '[Service]',
  'Type=oneshot',
  'RemainAfterExit=yes',
  `ExecStart=${FETCH}`,
  '[Install]',
  'WantedBy=multi-user.target',
  '',
].join('\n');

interface WriteFile {
  path: string;
  content: string;
  encoding?: 'b64';
  permissions: string;
  owner?: string;
}

function octal(mode: number | undefined, fallback: number): string {
  return `0${(mode ?? fallback).toString(8)}`;
}

function hostPath(container: string, path: string): string {
  return `/var/lib/datum/files/${container}/${createHash('sha256').update(path).digest('hex').slice(0, 16)}`;
}

function secretPath(ref: SecretRef): string {
  return `/run/datum/secrets/${ref.owner}/${createHash('sha256').update(ref.target).digest('hex').slice(0, 16)}`;
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'"'"'`)}'`;
}

function users(keys: InstanceDesired['sshKeys']): unknown[] {
  const byUser = new Map<string, string[]>();
  for (const k of keys) byUser.set(k.user, [...(byUser.get(k.user) ?? []), k.key]);
  return [
    'default',
    ...[...byUser].map(([name, ssh_authorized_keys]) => ({
      name,
      ssh_authorized_keys,
      sudo: 'ALL=(ALL) NOPASSWD:ALL',
      shell: '/bin/bash',
    })),
  ];
}

/** The boot script that pulls secrets from SSM (retrying while the instance profile is not yet usable). */
function fetchScript(region: string, refs: SecretRef[], vm: boolean): string {
  const lines = [
    '#!/bin/sh',
    'set -eu',
    'umask 077',
    'mkdir -p /run/datum && rm -f /run/datum/*.secret.env',
    'command -v aws >/dev/null 2>&1 || (command -v dnf >/dev/null && dnf install -y awscli) || ' +
      '(apt-get update && apt-get install -y awscli) || snap install aws-cli --classic',
    'get() {',
    '  for i in $(seq 1 30); do',
    `    if v=$(aws ssm get-parameter --region ${shq(region)} --with-decryption --name "$1" --query Parameter.Value --output text); then printf '%s' "$v"; return 0; fi`,
    '    sleep 5',
    '  done',
    '  echo "datum: cannot read secret parameter $1" >&2; return 1',
    '}',
  ];
  for (const r of refs) {
    if (r.kind === 'file') {
      const dest = vm ? r.target : secretPath(r);
      lines.push(`mkdir -p "$(dirname ${shq(dest)})"`);
      lines.push(`get ${shq(r.param)} | base64 -d > ${shq(dest)}`);
      lines.push(`chmod ${octal(r.mode, 0o600)} ${shq(dest)}`);
    } else {
      const envFile = `/run/datum/${r.owner}.secret.env`;
      lines.push(`printf '%s=%s\\n' ${shq(r.target)} "$(get ${shq(r.param)})" >> ${shq(envFile)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function plainFiles(owner: string, files: FileContent[], vm: boolean): WriteFile[] {
  return files
    .filter((f) => !f.sensitive)
    .map((f) => ({
      path: vm ? f.path : hostPath(owner, f.path),
      content: f.data,
      encoding: 'b64' as const,
      permissions: octal(f.mode, 0o644),
    }));
}

function checkEnv(c: ContainerDesired): void {
  for (const e of c.env)
    if (/[\r\n]/.test(e.value) || !/^[^=\s]+$/.test(e.name))
      throw new BackendError(
        'InvalidConfiguration',
        `container ${c.name}: env ${e.sensitive ? '(secret)' : e.name} cannot be passed through an env file ` +
          '(names without = or spaces, values without newlines)',
      );
}

function unit(c: ContainerDesired, refs: SecretRef[]): string {
  const secrets = refs.length > 0;
  const args = ['--rm', `--name datum-${c.name}`, '--network host', `--env-file /etc/datum/${c.name}.env`];
  if (refs.some((r) => r.owner === c.name && r.kind === 'env'))
    args.push(`--env-file /run/datum/${c.name}.secret.env`);
  for (const f of c.files) {
    const src = f.sensitive
      ? secretPath(refs.find((r) => r.owner === c.name && r.kind === 'file' && r.target === f.path)!)
      : hostPath(c.name, f.path);
    args.push(`-v ${src}:${f.path}:ro`);
  }
  return [
    '[Unit]',
    `Description=Datum container ${c.name}`,
    `After=docker.service network-online.target${secrets ? ' datum-secrets.service' : ''}`,
    `Requires=docker.service${secrets ? ' datum-secrets.service' : ''}`,
    '[Service]',
    'Restart=always',
    'RestartSec=5',
    `ExecStartPre=-/usr/bin/docker rm -f datum-${c.name}`,
    `ExecStart=/usr/bin/docker run ${args.join(' ')} ${c.image}`,
    `ExecStop=/usr/bin/docker stop datum-${c.name}`,
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** Builds the user data (cloud-config, gzip'd when large); returns it base64-encoded for RunInstances. */
export function buildUserData(d: InstanceDesired, refs: SecretRef[], region: string): string {
  const files: WriteFile[] = [];
  const runcmd: string[][] = [];
  if (refs.length > 0) {
    files.push({
      path: FETCH,
      content: fetchScript(region, refs, d.runtime.kind === 'virtualMachine'),
      permissions: '0700',
    });
    files.push({
      path: '/etc/systemd/system/datum-secrets.service',
      content: SECRETS_UNIT,
      permissions: '0644',
    });
  }
  const fetchNow = ['systemctl', 'enable', '--now', 'datum-secrets.service'];
  if (d.runtime.kind === 'virtualMachine') {
    files.push(...plainFiles('vm', d.runtime.files, true));
    if (refs.length > 0) runcmd.push(['systemctl', 'daemon-reload'], fetchNow);
  } else {
    for (const c of d.runtime.containers) {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(c.name))
        throw new BackendError('InvalidConfiguration', `container name "${c.name}" is not a DNS label`);
      checkEnv(c);
      files.push(...plainFiles(c.name, c.files, false));
      files.push({
        path: `/etc/datum/${c.name}.env`,
        content: c.env
          .filter((e) => !e.sensitive)
          .map((e) => `${e.name}=${e.value}\n`)
          .join(''),
        permissions: '0600',
      });
      files.push({
        path: `/etc/systemd/system/datum-${c.name}.service`,
        content: unit(c, refs),
        permissions: '0644',
      });
    }
    runcmd.push([
      'sh',
      '-c',
      'command -v docker >/dev/null 2>&1 || dnf install -y docker || (apt-get update && apt-get install -y docker.io)',
    ]);
    runcmd.push(['systemctl', 'enable', '--now', 'docker']);
    runcmd.push(['systemctl', 'daemon-reload']);
    if (refs.length > 0) runcmd.push(fetchNow);
    for (const c of d.runtime.containers)
      runcmd.push(['systemctl', 'enable', '--now', `datum-${c.name}.service`]);
  }
  const doc: Record<string, unknown> = { users: users(d.sshKeys), write_files: files };
  if (runcmd.length > 0) doc.runcmd = runcmd;
  const text = `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
  let bytes = Buffer.from(text, 'utf8');
  // cloud-init recognises gzip by its magic number.
  if (bytes.length > USER_DATA_MAX) bytes = gzipSync(bytes, { level: 9 });
  if (bytes.length > USER_DATA_MAX)
    throw new BackendError(
      'InvalidConfiguration',
      `user data is ${bytes.length} bytes compressed; EC2 allows ${USER_DATA_MAX} (files are too large)`,
    );
  return bytes.toString('base64');
}
