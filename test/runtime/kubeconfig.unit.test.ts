/** kubeconfig reading and merging as kubectl does it, without a cluster. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import {
  clusterConfigFrom,
  loadKubeconfig,
  resolveClusterConfig,
  toKubeconfigYaml,
} from '../../src/runtime/client/config.ts';
import { KubeconfigError } from '../../src/runtime/client/errors.ts';
import { kubeconfigPaths, mergeKubeconfigs, readKubeconfigs } from '../../src/runtime/client/kubeconfig.ts';

const root = mkdtempSync(join(tmpdir(), 'kubeconfig-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));

function file(rel: string, doc: unknown): string {
  const p = join(root, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return p;
}
const PEM = (what: string) => `-----BEGIN ${what}-----\n${what.toLowerCase()}\n-----END ${what}-----\n`;
const cluster = (name: string, c: Record<string, unknown>) => ({ name, cluster: c });
const user = (name: string, u: Record<string, unknown>) => ({ name, user: u });
const context = (name: string, c: string, u: string, namespace?: string) => ({
  name,
  context: { cluster: c, user: u, namespace },
});
const oneContext = (
  u: Record<string, unknown>,
  c: Record<string, unknown> = { server: 'https://x:6443' },
) => ({
  'current-context': 'x',
  clusters: [cluster('x', c)],
  users: [user('x', u)],
  contexts: [context('x', 'x', 'x')],
});
const throwsKc = (fn: () => unknown, re: RegExp) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof KubeconfigError && re.test(e.message) && !e.message.includes('\n'),
  );

describe('KUBECONFIG: which files, merged in kubectl order', () => {
  it('lists $KUBECONFIG entries in order, dropping empty and duplicate ones; --kubeconfig alone wins', () => {
    assert.deepEqual(kubeconfigPaths(undefined, '/a::/b:/a'), { paths: ['/a', '/b'], explicit: false });
    assert.deepEqual(kubeconfigPaths('/only', '/a:/b'), { paths: ['/only'], explicit: true });
    assert.deepEqual(kubeconfigPaths(undefined, ''), {
      paths: [join(homedir(), '.kube', 'config')],
      explicit: true,
    });
  });

  it('first file wins per name; current-context from the first file that sets it', () => {
    const merged = mergeKubeconfigs([
      { path: '/one', doc: { clusters: [cluster('shared', { server: 'https://one' })] } },
      {
        path: '/two',
        doc: {
          'current-context': 'from-two',
          clusters: [
            cluster('shared', { server: 'https://two' }),
            cluster('only-two', { server: 'https://t' }),
          ],
          users: [user('u', { token: 'two' })],
        },
      },
      { path: '/three', doc: { 'current-context': 'from-three', users: [user('u', { token: 'three' })] } },
    ]);
    assert.equal(merged.currentContext, 'from-two');
    assert.equal(merged.clusters.get('shared')?.value.server, 'https://one');
    assert.equal(merged.clusters.get('shared')?.origin, '/one');
    assert.equal(merged.clusters.get('only-two')?.origin, '/two');
    assert.equal(merged.users.get('u')?.value.token, 'two');
  });

  it('skips missing $KUBECONFIG files, but a missing --kubeconfig is an error', () => {
    const a = file('skip/a', oneContext({ token: 't' }));
    const kc = readKubeconfigs(undefined, [join(root, 'skip/absent'), a].join(':'));
    assert.deepEqual(kc.files, [a]);
    throwsKc(() => readKubeconfigs(join(root, 'skip/absent')), /^kubeconfig not found at .*absent$/);
    throwsKc(() => readKubeconfigs(undefined, join(root, 'nope')), /none of the KUBECONFIG files exist/);
    throwsKc(() => readKubeconfigs(file('skip/bad', 'clusters: [')), /is not valid YAML/);
    throwsKc(() => readKubeconfigs(file('skip/list', '- a\n- b\n')), /is not a kubeconfig/);
    throwsKc(
      () => readKubeconfigs(file('skip/noname', { clusters: [{ cluster: {} }] })),
      /clusters\[0\] has no name/,
    );
  });

  it('resolves relative paths against the directory of the file that wrote them', () => {
    file('dirA/ca.crt', PEM('CA A'));
    file('dirB/certs/client.crt', PEM('CERT B'));
    file('dirB/certs/client.key', PEM('KEY B'));
    file('dirB/token', ' from-file \n');
    const a = file('dirA/config', {
      'current-context': 'main',
      clusters: [cluster('c', { server: 'https://a:6443', 'certificate-authority': 'ca.crt' })],
      contexts: [context('main', 'c', 'u', 'team-a')],
    });
    const b = file('dirB/config', {
      users: [
        user('u', { 'client-certificate': 'certs/client.crt', 'client-key': 'certs/client.key' }),
        user('tok', { tokenFile: 'token' }),
      ],
      contexts: [context('main', 'other', 'other'), context('with-token', 'c', 'tok')],
    });
    const cfg = clusterConfigFrom(readKubeconfigs(undefined, `${a}:${b}`));
    assert.equal(cfg.caData, PEM('CA A'));
    assert.equal(cfg.certData, PEM('CERT B'));
    assert.equal(cfg.keyData, PEM('KEY B'));
    assert.equal(cfg.namespace, 'team-a');
    const tok = clusterConfigFrom(readKubeconfigs(undefined, `${a}:${b}`), 'with-token');
    assert.equal(tok.tokenFile, join(root, 'dirB/token'));
    throwsKc(
      () => loadKubeconfig(file('dirC/config', oneContext({ 'client-key': 'missing.key' }))),
      /user 'x': client-key .*dirC\/missing\.key: ENOENT/,
    );
  });

  it('chooses the context: --context over current-context; says which exist when it is unknown', () => {
    const p = file('ctx/config', {
      'current-context': 'a',
      clusters: [cluster('ca', { server: 'https://a' }), cluster('cb', { server: 'https://b' })],
      contexts: [context('a', 'ca', 'none'), context('b', 'cb', 'none')],
    });
    assert.equal(loadKubeconfig(p).server, 'https://a');
    assert.equal(loadKubeconfig(p, 'b').server, 'https://b');
    throwsKc(() => loadKubeconfig(p, 'c'), /context 'c' not found \(contexts: a, b\)/);
    const noCurrent = file('ctx/none', { clusters: [cluster('ca', { server: 'https://a' })] });
    throwsKc(() => loadKubeconfig(noCurrent), /no current-context is set; choose one with --context/);
  });

  it('reads tls-server-name, proxy-url, disable-compression and impersonation', () => {
    const cfg = loadKubeconfig(
      file(
        'cluster/config',
        oneContext(
          { token: 't', as: 'bob', 'as-groups': ['devs'], 'as-uid': '42', 'as-user-extra': { scope: ['a'] } },
          {
            server: 'https://10.0.0.1:6443',
            'tls-server-name': 'api.internal',
            'proxy-url': 'http://proxy:3128',
            'disable-compression': true,
          },
        ),
      ),
    );
    assert.deepEqual(cfg, {
      server: 'https://10.0.0.1:6443',
      token: 't',
      tlsServerName: 'api.internal',
      proxyUrl: 'http://proxy:3128',
      disableCompression: true,
      impersonate: { user: 'bob', uid: '42', groups: ['devs'], extra: { scope: ['a'] } },
    });
    const bad = (c: Record<string, unknown>) => () => loadKubeconfig(file('cluster/bad', oneContext({}, c)));
    throwsKc(
      bad({ server: 'https://x', 'proxy-url': 'ftp://p' }),
      /proxy-url scheme 'ftp:' is not supported/,
    );
    throwsKc(bad({ server: 'https://x', 'proxy-url': 'not a url' }), /proxy-url 'not a url' is not a URL/);
    throwsKc(bad({}), /cluster 'x' has no server/);
  });

  it('refuses basic auth and auth-provider plugins with a clear message', () => {
    throwsKc(
      () => loadKubeconfig(file('refuse/basic', oneContext({ username: 'admin', password: 'hunter2' }))),
      /user 'x' uses basic authentication \(username\/password\).*use a token, a client certificate or an exec plugin$/,
    );
    throwsKc(
      () => loadKubeconfig(file('refuse/ap', oneContext({ 'auth-provider': { name: 'oidc' } }))),
      /auth-provider 'oidc', which is not supported; use an exec plugin instead/,
    );
    // The message never repeats the password.
    assert.throws(
      () => loadKubeconfig(file('refuse/basic2', oneContext({ username: 'admin', password: 'hunter2' }))),
      (e: Error) => !e.message.includes('hunter2'),
    );
  });
});

describe('exec plugins in kubeconfig', () => {
  const exec = (e: Record<string, unknown>) => () =>
    loadKubeconfig(file(`exec/${Math.random()}`, oneContext({ exec: e })));

  it('keeps command, args, env, apiVersion, provideClusterInfo, interactiveMode and the cluster extension', () => {
    const p = file('exec/datum/config', {
      ...oneContext({
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: 'datumctl',
          args: ['auth', 'get-token', '--output=client.authentication.k8s.io/v1'],
          env: [{ name: 'DATUM_PROFILE', value: 'ci' }],
          interactiveMode: 'IfAvailable',
          provideClusterInfo: true,
          installHint: 'Install datumctl:\n  go install go.datum.net/datumctl@latest',
        },
      }),
    });
    const doc = JSON.parse(JSON.stringify(parse(String(toKubeconfigYaml(loadKubeconfig(p))))));
    const cfg = loadKubeconfig(p);
    assert.deepEqual(cfg.exec, {
      command: 'datumctl',
      args: ['auth', 'get-token', '--output=client.authentication.k8s.io/v1'],
      env: [{ name: 'DATUM_PROFILE', value: 'ci' }],
      apiVersion: 'client.authentication.k8s.io/v1',
      installHint: 'Install datumctl:\n  go install go.datum.net/datumctl@latest',
      provideClusterInfo: true,
      interactiveMode: 'IfAvailable',
    });
    assert.equal(doc.users[0].user.exec.command, 'datumctl', 'toKubeconfigYaml writes exec back');
    const ext = loadKubeconfig(
      file(
        'exec/ext',
        oneContext(
          { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: '/bin/p' } },
          {
            server: 'https://x',
            extensions: [{ name: 'client.authentication.k8s.io/exec', extension: { audience: 'datum' } }],
          },
        ),
      ),
    );
    assert.deepEqual(ext.exec?.clusterConfig, { audience: 'datum' });
    assert.equal(ext.exec?.interactiveMode, 'IfAvailable', 'v1beta1 default');
  });

  it('resolves a relative command with a slash against the kubeconfig dir; a bare name is looked up in PATH', () => {
    const rel = loadKubeconfig(
      file(
        'exec/rel/config',
        oneContext({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './bin/plugin' } }),
      ),
    );
    assert.equal(rel.exec?.command, join(root, 'exec/rel/bin/plugin'));
  });

  it('refuses Always, unknown modes, old or unknown API versions, and a missing command', () => {
    const v1 = 'client.authentication.k8s.io/v1';
    throwsKc(
      exec({ apiVersion: v1, command: 'p', interactiveMode: 'Always' }),
      /exec plugin 'p' needs interactiveMode Always .* runs unattended; use a non-interactive credential/,
    );
    throwsKc(
      exec({ apiVersion: v1, command: 'p', interactiveMode: 'Sometimes' }),
      /interactiveMode 'Sometimes'/,
    );
    throwsKc(
      exec({ apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'p' }),
      /apiVersion 'client.authentication.k8s.io\/v1alpha1' is not supported/,
    );
    throwsKc(exec({ apiVersion: v1 }), /exec plugin has no command/);
    throwsKc(
      exec({ apiVersion: v1, command: 'p', env: [{ value: 'x' }] }),
      /env must be a list of \{name, value\}/,
    );
  });
});

describe('in-cluster and defaults', () => {
  it('uses the in-cluster service account only without --kubeconfig, $KUBECONFIG or --context', () => {
    const saved = { ...process.env };
    try {
      process.env.KUBERNETES_SERVICE_HOST = '10.0.0.1';
      process.env.KUBERNETES_SERVICE_PORT = '443';
      delete process.env.KUBECONFIG;
      // No service-account files here: reaching for them proves the in-cluster path was taken.
      assert.throws(() => resolveClusterConfig(), /ENOENT.*serviceaccount\/ca\.crt/);
      const p = file('incluster/config', oneContext({ token: 't' }));
      assert.equal(resolveClusterConfig(p).token, 't');
      process.env.KUBECONFIG = p;
      assert.equal(resolveClusterConfig(undefined, 'x').token, 't');
    } finally {
      process.env = saved;
    }
  });
});
