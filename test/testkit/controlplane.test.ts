import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isGone } from '../../src/runtime/client/errors.ts';
import type { KubeObject, ResourceType } from '../../src/runtime/client/types.ts';
import { ControlPlane, DATUM_CRDS, readCRDs } from '../../src/testkit/index.ts';
import { minimalValue } from './minimal-object.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function resourceOf(crd: KubeObject): ResourceType {
  const v = crd.spec.versions.find((x: { storage: boolean }) => x.storage);
  return {
    group: crd.spec.group,
    version: v.name,
    kind: crd.spec.names.kind,
    plural: crd.spec.names.plural,
    namespaced: crd.spec.scope === 'Namespaced',
  };
}

// Fields whose CEL rules a generic synthesiser cannot satisfy.
const SPEC_OVERRIDES: Record<string, Record<string, unknown>> = {
  Domain: { domainName: 'example.com' },
  TrafficProtectionPolicy: {
    targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'x' }],
  },
};

describe('control plane', () => {
  let cp: ControlPlane;
  const crds = readCRDs([DATUM_CRDS.compute, DATUM_CRDS.networkClassic]);

  before(async () => {
    cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic] });
  });
  after(async () => {
    await cp?.stop();
  });

  it('serves every classic Datum kind: create, get, list, watch and status', async () => {
    assert.equal(crds.length, 16, 'compute 3 + network-services-operator 13 CRDs');
    const client = cp.client();
    for (const crd of crds) {
      const r = resourceOf(crd);
      const schema = crd.spec.versions.find((x: { storage: boolean }) => x.storage).schema.openAPIV3Schema;
      const body = {
        metadata: { name: `t-${r.plural}`, namespace: r.namespaced ? 'default' : undefined },
        spec: { ...(minimalValue(schema.properties?.spec) as object), ...SPEC_OVERRIDES[r.kind] },
      };
      const list0 = await client.list(r, { namespace: r.namespaced ? 'default' : undefined });
      const ac = new AbortController();
      const seen: string[] = [];
      const watching = (async () => {
        try {
          for await (const ev of client.watch(r, {
            resourceVersion: list0.metadata.resourceVersion,
            signal: ac.signal,
            timeoutSeconds: 30,
          })) {
            seen.push(`${ev.type}:${ev.object.metadata.name}`);
            if (seen.length >= 2) break;
          }
        } catch {}
      })();
      if (schema.properties?.status?.required)
        Object.assign(body, { status: minimalValue(schema.properties.status) });
      const created = await client.create(r, body);
      assert.ok(created.metadata.uid, `${r.kind} created`);
      const got = await client.get(r, body.metadata.name, body.metadata.namespace);
      assert.equal(got.metadata.uid, created.metadata.uid);
      const listed = await client.list(r, { namespace: body.metadata.namespace });
      assert.ok(
        listed.items.some((i) => i.metadata.name === body.metadata.name),
        `${r.kind} listed`,
      );
      if (schema.properties?.status?.properties?.conditions) {
        const cond = {
          type: 'TestKit',
          status: 'True',
          reason: 'Checked',
          message: 'status subresource works',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        };
        const st = await client.patchStatus(r, body.metadata.name, body.metadata.namespace, {
          type: 'merge',
          patch: { status: { ...(minimalValue(schema.properties.status) as object), conditions: [cond] } },
        });
        assert.ok(
          st.status.conditions.some((c: { type: string }) => c.type === 'TestKit'),
          `${r.kind} status written`,
        );
      }
      // Bounded by the ADDED event itself (generous on a loaded machine), not by a fixed sleep.
      const deadline = Date.now() + 30_000;
      while (!seen.includes(`ADDED:${body.metadata.name}`) && Date.now() < deadline)
        await Promise.race([watching, new Promise((res) => setTimeout(res, 50))]);
      ac.abort();
      assert.ok(
        seen.includes(`ADDED:${body.metadata.name}`),
        `${r.kind} watch saw ADDED (saw ${seen.join(',')})`,
      );
    }
  });

  it('keeps etcd data across an apiserver restart and a watch resumes from its resourceVersion', async () => {
    const client = cp.client();
    const cm: ResourceType = {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      plural: 'configmaps',
      namespaced: true,
    };
    const first = await client.create(cm, { metadata: { name: 'before-restart', namespace: 'default' } });
    await cp.restartApiServer();
    await client.create(cm, { metadata: { name: 'after-restart', namespace: 'default' } });
    const names: string[] = [];
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 5000);
    try {
      for await (const ev of client.watch(cm, {
        namespace: 'default',
        resourceVersion: first.metadata.resourceVersion,
        signal: ac.signal,
      })) {
        names.push(ev.object.metadata.name!);
        if (names.includes('after-restart')) break;
      }
    } catch {}
    ac.abort();
    assert.ok(
      names.includes('after-restart'),
      'the resumed watch delivered the object created after the restart',
    );
    assert.equal((await client.get(cm, 'before-restart', 'default')).metadata.uid, first.metadata.uid);
  });

  it('answers 410 Gone for a compacted resourceVersion', async () => {
    const client = cp.client();
    const cm: ResourceType = {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      plural: 'configmaps',
      namespaced: true,
    };
    const old = await client.create(cm, { metadata: { name: 'compact-me', namespace: 'default' } });
    for (let i = 0; i < 5; i++)
      await client.patch(cm, 'compact-me', 'default', { type: 'merge', patch: { data: { i: String(i) } } });
    await cp.compactEtcd();
    // The apiserver's watch cache may still serve the old version briefly; restart to force etcd.
    await cp.restartApiServer();
    await assert.rejects(
      (async () => {
        for await (const _ of client.watch(cm, {
          namespace: 'default',
          resourceVersion: old.metadata.resourceVersion,
          timeoutSeconds: 5,
        })) {
        }
      })(),
      (err) => isGone(err),
    );
  });
});

describe('control plane lifecycle', () => {
  it('runs two control planes at once and leaves no process or directory after stop', async () => {
    const [a, b] = await Promise.all([ControlPlane.start(), ControlPlane.start()]);
    assert.notEqual(a.connection.server, b.connection.server);
    const pids = [...a.pids(), ...b.pids()];
    const dirs = [a.dir, b.dir];
    assert.equal(pids.length, 4);
    assert.ok(pids.every(alive));
    await Promise.all([a.stop(), b.stop()]);
    assert.deepEqual(pids.filter(alive), [], 'every etcd and kube-apiserver stopped');
    assert.deepEqual(
      dirs.filter((d) => existsSync(d)),
      [],
      'temporary directories removed',
    );
  });

  it('leaves nothing behind when the test process is SIGKILLed', async () => {
    const script = join(tmpdir(), `crash-${process.pid}.ts`);
    writeFileSync(
      script,
      `import { ControlPlane } from ${JSON.stringify(new URL('../../src/testkit/index.ts', import.meta.url).pathname)};
       const cp = await ControlPlane.start();
       console.log(JSON.stringify({ pids: cp.pids(), dir: cp.dir }));
       process.kill(process.pid, 'SIGKILL');`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    await new Promise((r) => child.once('exit', r));
    const { pids, dir } = JSON.parse(out.trim().split('\n').pop()!) as { pids: number[]; dir: string };
    assert.equal(pids.length, 2);
    rmSync(script, { force: true });
    const deadline = Date.now() + 15_000;
    while ((pids.some(alive) || existsSync(dir)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(pids.filter(alive), [], 'the reaper killed etcd and kube-apiserver');
    assert.equal(existsSync(dir), false, 'the reaper removed the data directory');
  });

  it('says clearly when an explicit binary override is wrong', async () => {
    process.env.TEST_ASSET_ETCD = '/nonexistent/etcd';
    try {
      await assert.rejects(ControlPlane.start(), /TEST_ASSET_ETCD=\/nonexistent\/etcd: no such file/);
    } finally {
      delete process.env.TEST_ASSET_ETCD;
    }
  });

  it('kubeconfig works with kubectl', { skip: !hasKubectl() && 'kubectl not installed' }, async () => {
    const cp = await ControlPlane.start();
    try {
      const out = execFileSync('kubectl', [
        '--kubeconfig',
        cp.kubeconfigPath,
        'get',
        'ns',
        'default',
        '-o',
        'name',
      ]).toString();
      assert.equal(out.trim(), 'namespace/default');
    } finally {
      await cp.stop();
    }
  });
});

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
