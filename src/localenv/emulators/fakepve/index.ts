/**
 * A local Proxmox VE API for tests and `make run --backend proxmox`: fakepve on 127.0.0.1 (HTTPS, self-signed
 * certificate), driven by serve.py, with an API token and a control endpoint for its faults.
 *   const pve = await startFakePve({ setup: defaultSetup() });
 *   pve.endpoint, pve.fingerprint, pve.caPem, pve.tokenId, pve.tokenSecret; await pve.control({ op: 'lose_quorum' })
 * `control({ op: 'api_down' })` / `{ op: 'api_up' }` stop and restart its API on the same port with its state kept
 * (fakepve holds state in memory only: a process restart would be a new, empty cluster).
 * A reaper kills it if the test process dies first (ProcessGroup).
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logTail, ProcessGroup, sleep } from '../../process.ts';
import { ensureFakepveInstalled } from './install.ts';

export { ensureFakepveInstalled, FAKEPVE_VERSION } from './install.ts';

const SERVE = fileURLToPath(new URL('./serve.py', import.meta.url));

export interface FakePveSetup {
  nodes: string[];
  /** `local:vztmpl/<file>` volumes the fake's storage holds (LXC templates). */
  vztmpl: string[];
  guests: { vmid: number; name: string; node: string; template?: boolean; config: Record<string, string> }[];
}

export const TEMPLATE_VMID = 9000;

/** Three nodes, an Ubuntu cloud-init VM template on pve1, and container templates for the test images. */
export function defaultSetup(): FakePveSetup {
  return {
    nodes: ['pve1', 'pve2', 'pve3'],
    vztmpl: [
      'local:vztmpl/nginx-1.27.tar',
      'local:vztmpl/busybox.tar',
      'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
    ],
    guests: [
      {
        vmid: TEMPLATE_VMID,
        name: 'ubuntu-2204-cloudinit',
        node: 'pve1',
        template: true,
        config: {
          scsi0: `local-lvm:base-${TEMPLATE_VMID}-disk-0,size=4G`,
          ide2: `local-lvm:vm-${TEMPLATE_VMID}-cloudinit,media=cdrom`,
          net0: 'virtio,bridge=vmbr0',
          agent: '1',
          memory: '1024',
          cores: '1',
          boot: 'order=scsi0',
        },
      },
    ],
  };
}

export interface FakePve {
  endpoint: string;
  /** SHA-256 fingerprint of its certificate (`AA:BB:…`), as PVE shows it. */
  fingerprint: string;
  caPem: string;
  tokenId: string;
  tokenSecret: string;
  /** Calls the control endpoint (faults, request log, error answers as `refusals`, guest list). */
  control<T = unknown>(body: { op: string; [k: string]: unknown }): Promise<T>;
  stop(): Promise<void>;
}

export async function startFakePve(
  opts: {
    setup?: FakePveSetup;
    timeScale?: number;
    log?: (m: string) => void;
    /** Where its setup, certificate and log go (removed on stop); a fresh temp dir by default. */
    workDir?: string;
  } = {},
): Promise<FakePve> {
  const python = await ensureFakepveInstalled(opts.log);
  const group = new ProcessGroup();
  const dir = opts.workDir ?? group.tempDir('datum-fakepve-');
  if (opts.workDir) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  const stop = async () => {
    await group.stopAll();
    if (opts.workDir) rmSync(dir, { recursive: true, force: true });
  };
  const tokenId = 'datum@pve!provider';
  const tokenSecret = randomBytes(18).toString('hex');
  writeFileSync(
    join(dir, 'setup.json'),
    JSON.stringify({ ...(opts.setup ?? defaultSetup()), tokens: { [tokenId]: 'from-env' } }),
  );
  const proc = group.start(
    'fakepve',
    python,
    [
      SERVE,
      join(dir, 'setup.json'),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--control-port',
      '0',
      '--pki',
      dir,
      '--time-scale',
      String(opts.timeScale ?? 0.01),
    ],
    dir,
    { ...process.env, FAKEPVE_TOKEN_SECRET: tokenSecret, PYTHONUNBUFFERED: '1' },
  );
  let exited = false;
  proc.exited.then(() => {
    exited = true;
  });
  const deadline = Date.now() + 30_000;
  let info: { url: string; control: string; cert: string } | undefined;
  while (!info && !exited && Date.now() < deadline) {
    const line = readFileSync(proc.logPath, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('{"url"'));
    if (line) info = JSON.parse(line);
    else await sleep(100);
  }
  if (!info) {
    const tail = logTail(proc.logPath);
    await stop();
    throw new Error(`fakepve did not start:\n${tail}`);
  }
  const caPem = readFileSync(info.cert, 'utf8');
  const fingerprint = new X509Certificate(caPem).fingerprint256;
  const controlUrl = `${info.control}/control`;
  return {
    endpoint: info.url,
    fingerprint,
    caPem,
    tokenId,
    tokenSecret,
    async control<T>(body: { op: string }): Promise<T> {
      const res = await fetch(controlUrl, { method: 'POST', body: JSON.stringify(body) });
      const out = (await res.json()) as { data?: T; error?: string };
      if (!res.ok) throw new Error(`fakepve control ${body.op}: ${out.error ?? res.status}`);
      return out.data as T;
    },
    stop,
  };
}
