/**
 * The getting-started flow with the Proxmox backend (fakepve, HTTPS with a pinned fingerprint) and each
 * upstream. What the backend still holds is read from the simulator's API with the token the local platform
 * wrote to `<dataDir>/proxmox-credentials.json`: guests, IPSets (networks and their subnet entries) and
 * firewall rules marked as ours; not through the backend's own listing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ProxmoxClient } from '../../src/backends/proxmox/client.ts';
import { CREDENTIALS_FILE } from '../../src/localenv/platforms/proxmox.ts';
import { gettingStartedSuite } from './getting-started.ts';

interface Credentials {
  endpoint: string;
  tokenId: string;
  tokenSecret: string;
  fingerprint: string;
}

function readCredentials(out: string, dataDir: string): Credentials {
  const path = join(dataDir, CREDENTIALS_FILE);
  assert.equal(/^proxmox-credentials: (.+)$/m.exec(out)?.[1], path, 'it says where the credentials are');
  assert.equal(statSync(path).mode & 0o777, 0o600, 'the credentials file is readable by its owner only');
  const creds = JSON.parse(readFileSync(path, 'utf8')) as Credentials;
  assert.match(creds.tokenSecret, /^[0-9a-f]{20,}$/);
  assert.ok(!out.includes(creds.tokenSecret), 'the token secret is never printed');
  assert.equal(/^proxmox-endpoint: (.+)$/m.exec(out)?.[1], creds.endpoint);
  return creds;
}

const OURS = /datum-provider:/;

async function pveLeftovers(out: string, dataDir: string): Promise<string[]> {
  const c = readCredentials(out, dataDir);
  const client = new ProxmoxClient({
    endpoint: c.endpoint,
    tokenId: c.tokenId,
    tokenSecret: c.tokenSecret,
    trust: { kind: 'fingerprint', sha256: c.fingerprint },
  });
  const o = { signal: AbortSignal.timeout(30_000) };
  const found: string[] = [];
  const guests = await client.get<
    { vmid: number; name?: string; node: string; type: 'qemu' | 'lxc'; tags?: string; template?: number }[]
  >('/cluster/resources', { type: 'vm' }, o);
  for (const g of guests) {
    const tags = (g.tags ?? '').split(/[;, ]+/);
    if (tags.includes('datum') || g.name?.startsWith('dp-')) found.push(`guest/${g.vmid} ${g.name}`);
    // Our per-guest firewall rules are commented `datum`; none may stay on any guest, ours or not.
    const rules = await client.get<{ pos: number; comment?: string }[]>(
      `/nodes/${g.node}/${g.type}/${g.vmid}/firewall/rules`,
      undefined,
      o,
    );
    for (const r of rules) if (r.comment === 'datum') found.push(`firewall-rule/${g.vmid}/${r.pos}`);
  }
  const sets = await client.get<{ name: string; comment?: string }[]>(
    '/cluster/firewall/ipset',
    undefined,
    o,
  );
  for (const s of sets) {
    if (s.name.startsWith('dpn-') || OURS.test(s.comment ?? '')) found.push(`ipset/${s.name}`);
    const entries = await client.get<{ cidr: string; comment?: string }[]>(
      `/cluster/firewall/ipset/${s.name}`,
      undefined,
      o,
    );
    for (const e of entries) if (OURS.test(e.comment ?? '')) found.push(`ipset-entry/${s.name}/${e.cidr}`);
  }
  return found;
}

gettingStartedSuite({
  backend: 'proxmox',
  endpointLines: ['proxmox-endpoint', 'proxmox-credentials'],
  // The backend offers no external IPs (docs/proxmox.md).
  externalIP: false,
  leftovers: pveLeftovers,
  leftoversSeeRunning: true,
  async afterStop(_out, dataDir) {
    assert.ok(!existsSync(join(dataDir, CREDENTIALS_FILE)), 'the stale token is removed on stop');
    assert.ok(!existsSync(join(dataDir, 'fakepve')), "the simulator's folder is removed on stop");
  },
});
