/**
 * A local Redfish BMC farm for tests and for trying the bare-metal backend: sushy-emulator's fake driver (no
 * libvirt) on 127.0.0.1 with HTTP basic auth really checked, behind our fault proxy, plus a loopback image
 * server for virtual media. The process lives in a `ProcessGroup`, reaped even if the test process dies.
 *
 *   const bmc = await startRedfishEmulator({ systems: [{ name: 'node-1' }] });
 *   bmc.systemUrl('node-1')  // http://127.0.0.1:<proxy>/redfish/v1/Systems/<uuid>
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logTail, type Managed, ProcessGroup, sleep } from '../../process.ts';
import { freePort } from '../moto/server.ts';
import { type ImageServer, startImageServer } from './images.ts';
import { ensureSushyInstalled } from './install.ts';
import { type RedfishFaultProxy, startRedfishProxy } from './proxy.ts';

export interface FakeSystem {
  name: string;
  uuid: string;
  mac: string;
}

export interface RedfishEmulatorOptions {
  /** Systems to emulate (all powered off at start). */
  systems: { name: string; mac?: string }[];
  /** BMC users (HTTP basic auth); default one `admin` with a random password. */
  users?: { username: string; password: string }[];
  log?: (m: string) => void;
}

export interface VirtualMediaState {
  image: string;
  inserted: boolean;
}

export interface RedfishEmulator {
  /** The fault proxy's address: what clients use. */
  endpoint: string;
  /** sushy itself, bypassing faults (for assertions). */
  directEndpoint: string;
  /** Where the launcher serves boot images (`<base><name>.iso`). */
  imageBaseUrl: string;
  images: ImageServer;
  users: { username: string; password: string }[];
  systems: FakeSystem[];
  proxy: RedfishFaultProxy;
  systemUrl(name: string): string;
  /** Observed through sushy directly: the system's power state (`On` / `Off`). */
  powerState(name: string): Promise<string>;
  virtualMedia(name: string, device: 'Cd' | 'Floppy'): Promise<VirtualMediaState>;
  stop(): Promise<void>;
}

export async function startRedfishEmulator(opts: RedfishEmulatorOptions): Promise<RedfishEmulator> {
  const install = await ensureSushyInstalled({ log: opts.log });
  const users = opts.users ?? [{ username: 'admin', password: `pw-${randomUUID()}` }];
  const systems: FakeSystem[] = opts.systems.map((s, i) => ({
    name: s.name,
    uuid: randomUUID(),
    mac:
      s.mac ??
      `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  }));
  const group = new ProcessGroup();
  const dir = group.tempDir('datum-sushy-');
  const htpasswd = join(dir, 'htpasswd');
  writeFileSync(
    htpasswd,
    (await Promise.all(users.map((u) => hashUser(install.python, u)))).join('\n') + '\n',
  );
  const fake = systems.map((s) => ({
    uuid: s.uuid,
    name: s.name,
    power_state: 'Off',
    external_notifier: false,
    nics: [{ mac: s.mac }],
  }));
  const config = join(dir, 'emulator.conf');
  // sushy reads a Python file; JSON literals are valid Python except true/false/null, which we do not use.
  writeFileSync(
    config,
    [
      `SUSHY_EMULATOR_AUTH_FILE = ${JSON.stringify(htpasswd)}`,
      `SUSHY_EMULATOR_STATE_DIR = ${JSON.stringify(join(dir, 'state'))}`,
      `SUSHY_EMULATOR_FAKE_SYSTEMS = ${JSON.stringify(fake).replaceAll('false', 'False')}`,
      '',
    ].join('\n'),
  );
  const images = await startImageServer();
  let proc: Managed | undefined;
  let port = 0;
  let last = '';
  for (let attempt = 0; attempt < 5 && !proc; attempt++) {
    port = await freePort();
    const p = group.start(
      'sushy',
      install.emulator,
      ['--config', config, '-i', '127.0.0.1', '-p', String(port), '--fake'],
      dir,
      {
        ...process.env,
        // Downloaded virtual media land here, removed with the group.
        TMPDIR: dir,
      },
    );
    if ((await waitReady(`http://127.0.0.1:${port}`, p)) === 'ready') proc = p;
    else {
      last = logTail(p.logPath);
      await group.stopOne(p);
    }
  }
  if (!proc) {
    await images.close();
    await group.stopAll();
    throw new Error(`sushy-emulator did not start:\n${last}`);
  }
  const directEndpoint = `http://127.0.0.1:${port}`;
  const proxy = await startRedfishProxy(directEndpoint);
  const auth = `Basic ${Buffer.from(`${users[0]!.username}:${users[0]!.password}`).toString('base64')}`;
  const uuidOf = (name: string) => {
    const s = systems.find((x) => x.name === name);
    if (!s) throw new Error(`no emulated system ${name}`);
    return s.uuid;
  };
  const direct = async (path: string) => {
    const res = await fetch(`${directEndpoint}${path}`, { headers: { authorization: auth } });
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  };
  return {
    endpoint: proxy.endpoint,
    directEndpoint,
    imageBaseUrl: images.baseUrl,
    images,
    users,
    systems,
    proxy,
    systemUrl: (name) => `${proxy.endpoint}/redfish/v1/Systems/${uuidOf(name)}`,
    powerState: async (name) => String((await direct(`/redfish/v1/Systems/${uuidOf(name)}`)).PowerState),
    async virtualMedia(name, device) {
      const vm = await direct(`/redfish/v1/Systems/${uuidOf(name)}/VirtualMedia/${device}`);
      return { image: String(vm.Image ?? ''), inserted: vm.Inserted === true };
    },
    async stop() {
      await proxy.close();
      await images.close();
      await group.stopAll();
    },
  };
}

/** An htpasswd line with a bcrypt digest, made by the emulator's own bcrypt (the only digest it accepts). */
function hashUser(python: string, u: { username: string; password: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      python,
      [
        '-c',
        'import bcrypt,sys; print(bcrypt.hashpw(sys.stdin.read().encode(), bcrypt.gensalt(4)).decode())',
      ],
      (err, stdout) =>
        err ? reject(new Error('hashing a BMC password failed')) : resolve(`${u.username}:${stdout.trim()}`),
    );
    // The password goes through stdin, never the command line (visible in /proc).
    child.stdin?.end(u.password);
  });
}

async function waitReady(endpoint: string, proc: Managed): Promise<'ready' | 'failed'> {
  const deadline = Date.now() + 30_000;
  let exited = false;
  proc.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(`${endpoint}/redfish/v1/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return 'ready';
    } catch {}
    await sleep(100);
  }
  return 'failed';
}
