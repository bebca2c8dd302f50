/**
 * ProviderConfig resolution against a real kube-apiserver: a home cluster without the ProviderConfig CRD
 * fails every backend call with a clear error (no fall-back to the ambient identity); ProviderConfigs come
 * from a watch once the resolver runs; credential Secrets are read once per TTL and again when their
 * ProviderConfig changes; a status write that fails is logged, not swallowed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import { NETWORK_CONTEXT, SECRET } from '../../src/datum/api/resources.ts';
import type { Location } from '../../src/datum/api/types.ts';
import { registerProvider } from '../../src/datum/provider.ts';
import { CredentialsError, PROVIDER_CONFIG, ProviderConfigResolver } from '../../src/datum/providerconfig.ts';
import { defaultSettings } from '../../src/datum/settings.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { ForbiddenError } from '../../src/runtime/client/errors.ts';
import type { ResourceType } from '../../src/runtime/client/types.ts';
import { createLogger, silentLogger } from '../../src/runtime/log/logger.ts';
import { Manager } from '../../src/runtime/manager/manager.ts';
import {
  createLocation,
  createNetwork,
  createNetworking,
  ensureNamespace,
} from '../../src/testkit/contract/fixtures.ts';
import { condOf, eventually, OUR_CRDS } from '../../src/testkit/contract/suite.ts';
import { ControlPlane, DATUM_CRDS } from '../../src/testkit/index.ts';

/** The admin client, recording `<method> <kind>` per call; status writes can be made to fail. */
function observed(client: HttpClient) {
  const calls: string[] = [];
  const state = { failStatus: false };
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(`${String(prop)} ${(args[0] as ResourceType | undefined)?.kind}`);
        if (prop === 'patchStatus' && state.failStatus)
          return Promise.reject(new ForbiddenError(403, 'Forbidden', 'providerconfigs/status is forbidden'));
        return v.apply(target, args);
      };
    },
  });
  const count = (what: string) => calls.filter((c) => c === what).length;
  return { client: proxy, calls, count, state };
}

const LOC: Location = {
  metadata: { name: 'dfw', namespace: 'project' },
  spec: { locationClassName: 'datum-provider-ts', topology: {}, provider: {} },
};

describe('ProviderConfig resolver', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await ControlPlane.start({ crdDirs: [DATUM_CRDS.compute, DATUM_CRDS.networkClassic] });
    for (const ns of ['project', 'datum-provider-system']) await ensureNamespace(cp.client(), ns);
  });
  after(async () => {
    await cp?.stop();
  });

  it('without the CRD: every backend call fails, naming the missing CRD; nothing falls back to injected identity', async () => {
    const abort = new AbortController();
    const resolver = new ProviderConfigResolver(cp.client(), defaultSettings(), undefined, {
      log: silentLogger,
    });
    void resolver.start(abort.signal); // a watch that cannot sync must not hide the error either
    try {
      const err = await resolver.forLocation(LOC).catch((e) => e);
      assert.ok(err instanceof CredentialsError, `a CredentialsError, not ${JSON.stringify(err)}`);
      assert.match(
        err.message,
        /ProviderConfig CRD \(providerconfigs\.infra\.provider-ts\.io\) is not installed/,
      );
    } finally {
      abort.abort();
    }

    // The whole provider: the NetworkContext says why (under its own failure reason), no backend call.
    const c = cp.client();
    await createLocation(c, 'project', 'dfw', 'datum-provider-ts');
    await createNetwork(c, 'project');
    await createNetworking(c, 'project', 'default', { name: 'dfw', namespace: 'project' });
    const backend = new InMemoryBackend();
    const mgr = new Manager({
      log: createLogger({ level: 'error', sink: () => {} }),
      gracefulShutdownMs: 2000,
    });
    await mgr.engage('project', cp.connection);
    registerProvider(mgr, { backend, settings: defaultSettings(), home: c });
    await mgr.start();
    try {
      const ctx = await eventually(async () => {
        const o = await c.get(NETWORK_CONTEXT, 'default-project-dfw', 'project');
        return /ProviderConfig CRD .* is not installed/.test(condOf(o, 'Programmed')?.message ?? '')
          ? o
          : undefined;
      }, 'NetworkContext Programmed=False naming the missing CRD');
      assert.equal(condOf(ctx, 'Programmed')!.status, 'False');
      assert.deepEqual(backend.calls, [], 'no backend call without the CRD');
    } finally {
      await mgr.stop();
    }
  });

  it('with the CRD: ProviderConfigs from the watch, Secrets read once per TTL and again when their ProviderConfig changes', async () => {
    await cp.installCRDs([OUR_CRDS]);
    const c = cp.client();
    await c.create(SECRET, {
      metadata: { name: 'creds', namespace: 'datum-provider-system' },
      stringData: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'resolver-secret-value-1' },
    });
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'default' },
      spec: {
        credentials: { source: 'Secret', secretRef: { namespace: 'datum-provider-system', name: 'creds' } },
        region: 'us-east-1',
      },
    });
    const home = observed(c);
    let now = 1_000_000;
    const resolver = new ProviderConfigResolver(home.client, defaultSettings(), undefined, {
      secretTtlMs: 30_000,
      now: () => now,
    });
    // Before the watch runs, lookups list (a resolver nobody started still works).
    assert.equal((await resolver.forLocation(LOC)).name, 'default');
    assert.equal(home.count('list ProviderConfig'), 1);
    const abort = new AbortController();
    void resolver.start(abort.signal);
    try {
      await eventually(async () => resolver.watching(), 'the ProviderConfig watch synced');
      const lists = home.count('list ProviderConfig');
      const gets = home.count('get Secret');
      for (let i = 0; i < 5; i++) {
        const rc = await resolver.forLocation(LOC);
        assert.equal(
          rc.credentials.source === 'Secret' && rc.credentials.data.secretAccessKey,
          'resolver-secret-value-1',
        );
      }
      assert.equal(home.count('list ProviderConfig'), lists, 'served from the watch, no more lists');
      assert.equal(home.count('get Secret'), gets, 'the Secret read is reused within the TTL');

      now += 31_000;
      await resolver.forLocation(LOC);
      assert.equal(home.count('get Secret'), gets + 1, 'read again after the TTL');

      // A rotated Secret behind a changed ProviderConfig is picked up at once, not after the TTL.
      await c.patch(SECRET, 'creds', 'datum-provider-system', {
        type: 'merge',
        patch: { stringData: { secretAccessKey: 'resolver-secret-value-2' } },
      });
      await c.patch(PROVIDER_CONFIG, 'default', undefined, {
        type: 'merge',
        patch: { spec: { region: 'us-west-2' } },
      });
      const rotated = await eventually(async () => {
        const rc = await resolver.forLocation(LOC);
        return rc.region === 'us-west-2' ? rc : undefined;
      }, 'the changed ProviderConfig seen through the watch');
      assert.equal(
        rotated.credentials.source === 'Secret' && rotated.credentials.data.secretAccessKey,
        'resolver-secret-value-2',
      );
    } finally {
      abort.abort();
    }
  });

  it('logs a ProviderConfig status write that fails', async () => {
    const c = cp.client();
    await c.create(PROVIDER_CONFIG, {
      metadata: { name: 'broken' },
      spec: {
        credentials: { source: 'Secret', secretRef: { namespace: 'datum-provider-system', name: 'absent' } },
        locations: { names: ['project/lhr'] },
      },
    });
    const home = observed(c);
    home.state.failStatus = true;
    const lines: string[] = [];
    const resolver = new ProviderConfigResolver(home.client, defaultSettings(), undefined, {
      log: createLogger({ level: 'debug', sink: (l) => lines.push(l) }),
    });
    const lhr = { ...LOC, metadata: { name: 'lhr', namespace: 'project' } };
    await assert.rejects(resolver.forLocation(lhr), /Secret datum-provider-system\/absent not found/);
    assert.equal(home.count('patchStatus ProviderConfig'), 1);
    const warn = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'ProviderConfig status not written');
    assert.ok(warn, `a warning was logged: ${lines.join('\n')}`);
    assert.equal(warn.level, 'warn');
    assert.equal(warn.providerConfig, 'broken');
    assert.match(warn.err, /forbidden/);
  });
});
