/**
 * The vSphere local platform (`make run --backend vsphere`): vcsim on loopback, the credentials Secret and the
 * default ProviderConfig written into the control plane, the endpoint line, a backend built from the settings
 * it leaves that works with that Secret; and after stop, no vcsim process and no listener left.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { createBackend } from '../../src/backends/registry.ts';
import { SECRET } from '../../src/datum/api/resources.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import { ControlPlane } from '../../src/localenv/controlplane.ts';
import { LOCAL_PLATFORMS } from '../../src/localenv/platforms/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { OUR_CRDS } from '../../src/testkit/contract/suite.ts';

function vcsimPids(): Set<string> {
  const out = new Set<string>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p)))
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('/vcsim')) out.add(pid);
    } catch {}
  return out;
}

function refused(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port) });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

let cp: ControlPlane;
before(async () => {
  cp = await ControlPlane.start({ crdDirs: [OUR_CRDS] });
});
after(async () => {
  await cp?.stop();
});

describe('vsphere local platform', () => {
  it('starts vcsim with credentials in a Secret and a default ProviderConfig, and leaves nothing running', async () => {
    const before = vcsimPids();
    const settings = defaultSettings();
    const start = await LOCAL_PLATFORMS.vsphere!();
    const platform = await start({ cp, settings, dataDir: tmpdir(), say: () => {} });
    const ours = [...vcsimPids()].filter((p) => !before.has(p));
    let stopped = false;
    try {
      assert.equal(ours.length, 1, 'one vcsim process');
      const endpoint = /^vsphere-endpoint: (https:\/\/127\.0\.0\.1:\d+\/sdk)$/.exec(
        platform.lines[0] ?? '',
      )?.[1];
      assert.ok(endpoint, `endpoint line: ${platform.lines[0]}`);
      assert.equal(settings.backend, 'vsphere');
      const pc = await cp.client().get(PROVIDER_CONFIG, settings.defaultProviderConfig);
      const ref = (pc.spec as { credentials: { secretRef: { namespace: string; name: string } } }).credentials
        .secretRef;
      const secret = await cp.client().get(SECRET, ref.name, ref.namespace);
      const data = Object.fromEntries(
        Object.entries(secret.data as Record<string, string>).map(([k, v]) => [
          k,
          Buffer.from(v, 'base64').toString(),
        ]),
      );
      assert.deepEqual(Object.keys(data).sort(), ['password', 'username']);
      const backend = await createBackend(settings);
      try {
        assert.deepEqual(backend.capabilities().runtimes, ['virtualMachine']);
        const managed = await backend.listManaged({
          credentials: { source: 'Secret', data },
          config: {},
          location: { namespace: '', name: '', topology: {} },
          log: createLogger({ level: 'error', sink: () => {} }),
          signal: new AbortController().signal,
        });
        assert.deepEqual(managed, []);
      } finally {
        await backend.close?.();
      }
      await platform.stop();
      stopped = true;
      assert.deepEqual(
        ours.filter((p) => vcsimPids().has(p)),
        [],
        'vcsim stopped',
      );
      assert.equal(await refused(endpoint), true, 'nothing listens on the endpoint');
    } finally {
      if (!stopped) await platform.stop();
    }
  });
});
