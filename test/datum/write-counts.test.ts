/**
 * What the provider writes, counted from the API server's audit log: on an Instance's first reconcile, one
 * finalizer write and one status write (the placement record rides in the finalizer write); after a restart
 * over converged Instances on a platform that kept them, no write at all.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { INSTANCE } from '../../src/datum/api/resources.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { defaultSettings, PROVIDER_GROUP } from '../../src/datum/settings.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/localenv/controlplane.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import { createInstance, seedProject } from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';

const NS = 'project-w';
const N = 4;
const WRITES = new Set(['create', 'update', 'patch', 'delete']);

describe('writes per Instance', () => {
  const auditPath = join(tmpdir(), `write-counts-${process.pid}.jsonl`);
  let cp: ControlPlane;
  let mgr: Manager | undefined;
  // One backend object for both provider runs: the platform outlives the provider's restart.
  const backend = new InMemoryBackend({ pendingMs: 0, stoppingMs: 0 });
  const settings = { ...defaultSettings(), sweepIntervalSeconds: 3600 };

  async function startProvider(): Promise<Manager> {
    const m = new Manager({ log: createLogger({ level: 'error', sink: () => {} }) });
    await m.engage('project-w', cp.connection);
    registerProvider(m, { backend, settings, home: cp.client() });
    await m.start();
    return m;
  }

  /** Stored writes (verb resource[/sub] name) recorded since `from` lines, Events included. */
  function writesSince(from: number): { lines: number; writes: string[]; providerConfigLists: number } {
    const lines = readFileSync(auditPath, 'utf8').split('\n').filter(Boolean);
    const writes: string[] = [];
    const seen = new Set<string>();
    let providerConfigLists = 0;
    for (const l of lines.slice(from)) {
      const e = JSON.parse(l) as {
        auditID: string;
        verb: string;
        user?: { username?: string };
        objectRef?: { resource?: string; subresource?: string; name?: string };
        responseStatus?: { code?: number };
      };
      // A write refused (409: a reconcile on a stale cached copy, retried) stored nothing: not counted.
      const ok = (e.responseStatus?.code ?? 0) < 300;
      if (e.verb === 'list' && e.objectRef?.resource === 'providerconfigs' && !seen.has(e.auditID))
        providerConfigLists++;
      if (seen.has(e.auditID) || !WRITES.has(e.verb) || !ok) continue;
      seen.add(e.auditID);
      const r = e.objectRef;
      writes.push(`${e.verb} ${r?.resource}${r?.subresource ? `/${r.subresource}` : ''} ${r?.name ?? ''}`);
    }
    return { lines: lines.length, writes, providerConfigLists };
  }

  before(async () => {
    cp = await ControlPlane.start({
      crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic, OUR_CRDS],
      auditLog: {
        path: auditPath,
        rules: [
          { level: 'Metadata', namespaces: [NS], omitStages: ['RequestReceived'] },
          {
            level: 'Metadata',
            resources: [{ group: PROVIDER_GROUP, resources: ['providerconfigs'] }],
            omitStages: ['RequestReceived'],
          },
        ],
      },
    });
  });

  after(async () => {
    await mgr?.stop();
    await cp?.stop();
  });

  it('one finalizer write and one status write per new Instance; none after a restart', async () => {
    const c = cp.client();
    const where = await seedProject(c, NS, {
      name: 'dfw',
      className: settings.locationClassName,
      city: 'DFW',
    });
    mgr = await startProvider();
    // Networking first, so the Instances' writes stand alone.
    await createInstance(c, { name: 'warm', namespace: NS, location: where });
    await eventually(
      async () => condOf(await c.get(INSTANCE, 'warm', NS), 'Programmed')?.status === 'True',
      'warm-up Instance Programmed',
    );
    await mgr.cluster('project-w').recorder.flush();
    const start = writesSince(0).lines;
    const names = Array.from({ length: N }, (_, i) => `web-${i}`);
    for (const name of names) await createInstance(c, { name, namespace: NS, location: where });
    for (const name of names)
      await eventually(async () => {
        const i = await c.get(INSTANCE, name, NS);
        return condOf(i, 'Programmed')?.status === 'True' && condOf(i, 'Running')?.status === 'True';
      }, `${name} Programmed and Running`);
    // A reconcile records its Event just after its status write, which the wait above may already have seen:
    // wait until every Instance's Event is stored, then check there is nothing more than the expected writes.
    const mineOf = (writes: string[], name: string) =>
      writes.filter((w) => w.endsWith(` ${name}`) || w.includes(` ${name}.`));
    const storm = await eventually(async () => {
      await mgr!.cluster('project-w').recorder.flush();
      const got = writesSince(start);
      return names.every((n) => mineOf(got.writes, n).some((w) => w.startsWith('create events')))
        ? got
        : undefined;
    }, 'every Instance’s Event stored');
    for (const name of names) {
      const mine = mineOf(storm.writes, name);
      assert.deepEqual(
        mine.map((w) => w.split(' ').slice(0, 2).join(' ')).sort(),
        ['create events', 'create instances', 'patch instances', 'patch instances/status'],
        `${name}: ${mine.join(', ')}`,
      );
      const i = await c.get(INSTANCE, name, NS);
      assert.ok(
        condOf(i, 'infra.provider-ts.io/Placement')?.message,
        'the placement record is in its condition',
      );
    }

    await mgr.stop();
    mgr = await startProvider();
    const total = N + 1;
    await eventually(async () => {
      const got = await mgr!.metrics.reconcileTotal.get();
      const done = got.values
        .filter((v) => v.labels.controller === 'instance')
        .reduce((a, v) => a + v.value, 0);
      return done >= total;
    }, 'every Instance reconciled once after the restart');
    await mgr.cluster('project-w').recorder.flush();
    const restart = writesSince(storm.lines);
    assert.deepEqual(restart.writes, [], 'no write after a restart over converged Instances');
    // The reconciles wait for the ProviderConfig watch to sync rather than each listing them.
    assert.equal(restart.providerConfigLists, 1, 'one LIST of ProviderConfigs (the watch) after a restart');
  });
});
