/** Exec credential plugins without a cluster: one run of a real script, and the cache's timing on a fake clock. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ExecCredentialError } from '../../src/runtime/client/errors.ts';
import { ExecCredentialProvider } from '../../src/runtime/client/exec-credentials.ts';
import {
  type ExecConfig,
  type ExecCredential,
  execInfo,
  parseExecOutput,
  runExecPlugin,
} from '../../src/runtime/client/exec-plugin.ts';

const dir = mkdtempSync(join(tmpdir(), 'exec-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const V1 = 'client.authentication.k8s.io/v1';

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}
const cfg = (command: string, more: Partial<ExecConfig> = {}): ExecConfig => ({
  command,
  args: [],
  env: [],
  apiVersion: V1,
  provideClusterInfo: false,
  interactiveMode: 'Never',
  ...more,
});
/** Running (a zombie awaiting its reaper counts as gone). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const oneLine = (e: unknown, re: RegExp) =>
  e instanceof ExecCredentialError && !e.message.includes('\n') && re.test(e.message);

describe('one run of an exec plugin', () => {
  it('passes args, env and KUBERNETES_EXEC_INFO, gives no stdin, and reads the token and expiry', async () => {
    const out = join(dir, 'seen.json');
    const p = script(
      'echo-info',
      `[ -t 0 ] && tty=yes || tty=no
read -r line || stdin=empty
printf '{"args":"%s","env":"%s","tty":"%s","stdin":"%s","info":%s}' "$*" "$DATUM_PROFILE" "$tty" "$stdin" "$KUBERNETES_EXEC_INFO" > ${out}
echo '{"apiVersion":"${V1}","kind":"ExecCredential","status":{"token":"tok-1","expirationTimestamp":"2999-01-01T00:00:00Z"}}'`,
    );
    const c = cfg(p, { args: ['auth', 'get-token'], env: [{ name: 'DATUM_PROFILE', value: 'ci' }] });
    c.provideClusterInfo = true;
    c.clusterConfig = { audience: 'datum' };
    const cred = await runExecPlugin(c, { server: 'https://api:6443', caData: 'PEM', tlsServerName: 'api' });
    assert.deepEqual(cred, {
      token: 'tok-1',
      certData: undefined,
      keyData: undefined,
      expiresAt: Date.parse('2999-01-01T00:00:00Z'),
    });
    const seen = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(seen.args, 'auth get-token');
    assert.equal(seen.env, 'ci');
    assert.equal(seen.tty, 'no');
    assert.equal(seen.stdin, 'empty', 'stdin is /dev/null');
    assert.deepEqual(seen.info, {
      apiVersion: V1,
      kind: 'ExecCredential',
      spec: {
        interactive: false,
        cluster: {
          server: 'https://api:6443',
          'tls-server-name': 'api',
          'certificate-authority-data': Buffer.from('PEM').toString('base64'),
          config: { audience: 'datum' },
        },
      },
    });
    assert.deepEqual(JSON.parse(execInfo(cfg('x'), { server: 'https://api' })), {
      apiVersion: V1,
      kind: 'ExecCredential',
      spec: { interactive: false },
    });
  });

  it('a failing plugin: one line naming the command and the last line of its stderr', async () => {
    const p = script(
      'fails',
      'echo "starting" >&2\necho "error: session expired; run datumctl login" >&2\nexit 3',
    );
    await assert.rejects(runExecPlugin(cfg(p, { args: ['auth', 'get-token'] })), (e) =>
      oneLine(
        e,
        /^exec plugin '.*fails auth get-token' exited with code 3: error: session expired; run datumctl login$/,
      ),
    );
  });

  it('a hanging plugin is killed with everything it started, after the timeout', async () => {
    const pids = join(dir, 'hang.pids');
    const p = script('hangs', `sleep 30 &\necho $$ $! > ${pids}\nwait`);
    const started = Date.now();
    await assert.rejects(runExecPlugin(cfg(p, { timeoutMs: 500 })), (e) =>
      oneLine(e, /^exec plugin '.*hangs' did not finish within 0\.5s and was killed$/),
    );
    assert.ok(Date.now() - started < 2000);
    const [sh, sleeper] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(sh!) && !alive(sleeper!), 'the script and its child are gone');
  });

  it('garbage, a wrong kind or version, half a certificate, an expired credential: clear errors, output never quoted', async () => {
    const bad = (out: unknown, re: RegExp) =>
      assert.throws(
        () => parseExecOutput(typeof out === 'string' ? out : JSON.stringify(out), cfg('p')),
        (e) => oneLine(e, re) && !(e as Error).message.includes('secret'),
      );
    const ok = { apiVersion: V1, kind: 'ExecCredential' };
    bad('Please log in: secret', /printed an invalid ExecCredential: its output is not JSON$/);
    bad('', /its output is empty/);
    bad({ ...ok, kind: 'Secret', status: { token: 'secret' } }, /kind is 'Secret', not ExecCredential/);
    bad(
      { ...ok, apiVersion: 'client.authentication.k8s.io/v1beta1', status: { token: 'secret' } },
      /apiVersion is 'client.authentication.k8s.io\/v1beta1', but the kubeconfig asks for client.authentication.k8s.io\/v1/,
    );
    bad({ ...ok, status: {} }, /neither a token nor a client certificate/);
    bad({ ...ok, status: { clientCertificateData: 'secret' } }, /must come together/);
    bad({ ...ok, status: { token: 'secret', expirationTimestamp: 'soon' } }, /not an RFC 3339 time/);
    bad(
      { ...ok, status: { token: 'secret', expirationTimestamp: '2001-01-01T00:00:00Z' } },
      /expired already \(2001-01-01T00:00:00.000Z; is this machine's clock right\?\)/,
    );
    assert.deepEqual(
      parseExecOutput(
        JSON.stringify({ ...ok, status: { clientCertificateData: 'C', clientKeyData: 'K' } }),
        cfg('p'),
      ),
      {
        token: undefined,
        certData: 'C',
        keyData: 'K',
      },
    );
  });

  it('a missing command says so, with the install hint on the same line', async () => {
    await assert.rejects(
      runExecPlugin(
        cfg('datumctl-not-installed', {
          installHint: 'Install it:\n  go install go.datum.net/datumctl@latest',
        }),
      ),
      (e) =>
        oneLine(
          e,
          /^exec plugin 'datumctl-not-installed' was not found \(datumctl-not-installed: no such file\); Install it: go install go.datum.net\/datumctl@latest$/,
        ),
    );
  });

  it('a failure message never carries the previous token, even when the plugin prints it', async () => {
    const p = script('leaks', 'echo "refresh failed for token tok-secret-123" >&2\nexit 1');
    await assert.rejects(runExecPlugin(cfg(p), undefined, ['tok-secret-123']), (e) =>
      oneLine(e, /refresh failed for token \[redacted\]$/),
    );
  });
});

/** A provider on a fake clock whose plugin runs are counted and resolved by hand. */
function harness() {
  let now = 1_000_000;
  const calls: { resolve: (c: ExecCredential) => void; reject: (e: unknown) => void }[] = [];
  const p = new ExecCredentialProvider(cfg('fake'), undefined, {
    now: () => now,
    run: () =>
      new Promise<ExecCredential>((resolve, reject) => {
        calls.push({ resolve, reject });
      }),
  });
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    p,
    calls,
    tick,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

describe('the exec credential cache', () => {
  it('many callers at once share one run', async () => {
    const h = harness();
    const gets = Array.from({ length: 50 }, () => h.p.get());
    assert.equal(h.calls.length, 1);
    h.calls[0]!.resolve({ token: 'a', expiresAt: h.now() + 100_000 });
    assert.deepEqual(new Set((await Promise.all(gets)).map((c) => c.token)), new Set(['a']));
    assert.equal(h.p.stats.runs, 1);
  });

  it('serves the cached credential, refreshes in the background within the margin, and waits once expired', async () => {
    const h = harness();
    const first = h.p.get();
    h.calls[0]!.resolve({ token: 'a', expiresAt: h.now() + 100_000 }); // margin: min(30 s, 100 s / 5) = 20 s
    assert.equal((await first).token, 'a');
    h.advance(79_000);
    assert.equal((await h.p.get()).token, 'a');
    assert.equal(h.calls.length, 1, 'outside the margin: no run');
    h.advance(2_000); // 19 s before expiry
    assert.equal((await h.p.get()).token, 'a', 'the current one is served meanwhile');
    assert.equal(h.calls.length, 2, 'one early run started');
    assert.equal((await h.p.get()).token, 'a');
    assert.equal(h.calls.length, 2, 'still one run in flight');
    // The plugin hands back the same credential (it caches until its own cut-off): retried a third of the
    // margin later, not on every request.
    h.calls[1]!.resolve({ token: 'a', expiresAt: h.now() + 19_000 });
    await h.tick();
    h.advance(1_000);
    await h.p.get();
    assert.equal(h.calls.length, 2);
    h.advance(6_000);
    await h.p.get();
    assert.equal(h.calls.length, 3, 'early retry after margin/3');
    h.calls[2]!.reject(new ExecCredentialError('exec plugin failed'));
    await h.tick();
    h.advance(13_000); // expired now
    const waiting = h.p.get();
    assert.equal(h.calls.length, 4, 'an expired credential is never served');
    h.calls[3]!.resolve({ token: 'b', expiresAt: h.now() + 100_000 });
    assert.equal((await waiting).token, 'b');
    assert.equal(h.p.stats.earlyRefreshes, 2);
  });

  it('a 401 drops the credential that got it, once, however many requests saw it', async () => {
    const h = harness();
    const first = h.p.get();
    h.calls[0]!.resolve({ token: 'a' }); // no expiry: good until refused
    const used = await first;
    h.p.invalidate(used);
    const again = [h.p.get(), h.p.get()];
    h.p.invalidate(used); // a second request refused with the same token
    assert.equal(h.calls.length, 2);
    h.calls[1]!.resolve({ token: 'b' });
    assert.deepEqual(
      (await Promise.all(again)).map((c) => c.token),
      ['b', 'b'],
    );
    h.p.invalidate(used); // late 401 for the old token: keeps the new one
    assert.equal((await h.p.get()).token, 'b');
    assert.equal(h.calls.length, 2);
  });

  it('remembers a failure briefly (growing) so retry loops do not run the plugin each time', async () => {
    const h = harness();
    const err = new ExecCredentialError('exec plugin x exited with code 1');
    const fail = async () => {
      const got = h.p.get();
      h.calls.at(-1)?.reject(err);
      await assert.rejects(got, err);
    };
    await fail();
    await assert.rejects(h.p.get(), err);
    assert.equal(h.calls.length, 1, 'within 250 ms: the same error, no run');
    h.advance(300);
    await fail();
    assert.equal(h.calls.length, 2);
    h.advance(300);
    await assert.rejects(h.p.get(), err);
    assert.equal(h.calls.length, 2, 'second failure: 500 ms');
    h.advance(300);
    const ok = h.p.get();
    h.calls[2]!.resolve({ token: 'c' });
    assert.equal((await ok).token, 'c');
  });
});
