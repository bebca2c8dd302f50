/**
 * The config drive: a cloud-init NoCloud seed (`meta-data`, `user-data` with the SSH keys and the Instance's
 * non-secret files) as an ISO 9660 image labelled `cidata`, served by a small HTTP server of the provider so a
 * BMC can insert it as virtual media. Each image sits at an unguessable path (a random token per provisioning)
 * and is dropped when the host is freed. Secret content never gets here: the backend declares no `secret`
 * volume kind, so the reconciler refuses such Instances before calling it.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InstanceDesired } from '../../datum/backend.ts';
import { nftRuleset } from './firewall.ts';
import { buildIso } from './iso.ts';

export function seedFiles(desired: InstanceDesired): { name: string; data: Buffer }[] {
  const files = desired.runtime.kind === 'virtualMachine' ? desired.runtime.files : [];
  const users = [...new Set(desired.sshKeys.map((k) => k.user))];
  const lines = ['#cloud-config'];
  if (users.length) {
    lines.push('users:', '  - default');
    for (const user of users) {
      lines.push(`  - name: ${JSON.stringify(user)}`, '    ssh_authorized_keys:');
      for (const k of desired.sshKeys.filter((x) => x.user === user))
        lines.push(`      - ${JSON.stringify(k.key)}`);
    }
  }
  const plain = files.filter((f) => !f.sensitive);
  const rules = desired.interfaces.flatMap((i) => i.ingress);
  lines.push('write_files:');
  lines.push(
    '  - path: /etc/datum/ingress.nft',
    '    encoding: b64',
    `    content: ${Buffer.from(nftRuleset(rules)).toString('base64')}`,
  );
  for (const f of plain)
    lines.push(
      `  - path: ${JSON.stringify(f.path)}`,
      '    encoding: b64',
      `    content: ${f.data}`,
      ...(f.mode === undefined ? [] : [`    permissions: '0${f.mode.toString(8)}'`]),
    );
  lines.push('runcmd:', '  - [nft, -f, /etc/datum/ingress.nft]');
  const meta = `instance-id: ${desired.id}\nlocal-hostname: ${desired.owner.name}\n`;
  return [
    { name: 'meta-data', data: Buffer.from(meta) },
    { name: 'user-data', data: Buffer.from(`${lines.join('\n')}\n`) },
  ];
}

export class ConfigDriveServer {
  private server?: Server;
  private starting?: Promise<string>;
  private readonly images = new Map<string, { token: string; iso: Buffer }>();
  private readonly listen: { host: string; port: number };
  private readonly publicUrl?: string;

  constructor(opts: { listen: { host: string; port: number }; publicUrl?: string }) {
    this.listen = opts.listen;
    this.publicUrl = opts.publicUrl;
  }

  /** Serves the instance's seed; returns the URL a BMC fetches it from. */
  async publish(desired: InstanceDesired): Promise<string> {
    const base = await this.start();
    const token = this.images.get(desired.id)?.token ?? randomBytes(18).toString('base64url');
    this.images.set(desired.id, { token, iso: buildIso('cidata', seedFiles(desired)) });
    return `${base}/configdrive/${desired.id}/${token}.iso`;
  }

  unpublish(id: string): void {
    this.images.delete(id);
  }

  private start(): Promise<string> {
    this.starting ??= new Promise<string>((resolve, reject) => {
      const server = createServer((req, res) => {
        const m = /^\/configdrive\/([a-z0-9-]+)\/([A-Za-z0-9_-]+)\.iso$/.exec(req.url ?? '');
        const entry = m ? this.images.get(m[1]!) : undefined;
        if (!entry || entry.token !== m?.[2] || (req.method !== 'GET' && req.method !== 'HEAD'))
          return res.writeHead(404).end();
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': entry.iso.length,
        });
        res.end(req.method === 'HEAD' ? undefined : entry.iso);
      });
      server.once('error', reject);
      server.listen(this.listen.port, this.listen.host, () => {
        this.server = server;
        const port = (server.address() as AddressInfo).port;
        const host = this.listen.host.includes(':') ? `[${this.listen.host}]` : this.listen.host;
        resolve(this.publicUrl ?? `http://${host}:${port}`);
      });
    });
    return this.starting;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.starting = undefined;
    if (s)
      await new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      });
  }
}
