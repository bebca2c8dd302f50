/**
 * The Proxmox client where no simulator is needed, against a small HTTPS server of this test that answers the
 * way PVE does (message in the status line, `{"data":null}` body): which failures are retried and which never
 * are, the error catalogue, the token's redaction, the TLS trust (pinned fingerprint, CA bundle) and how a
 * fingerprint is read. The server counts what reaches it, so "not retried" and "never sent" are observed.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  ConnectError,
  ExchangeError,
  ProxmoxApiError,
  ProxmoxClient,
  type ProxmoxClientOptions,
  ProxmoxTaskError,
  redact,
  TlsVerificationError,
} from '../../src/backends/proxmox/client.ts';
import { isAlreadyExists, isNotFound, toBackendError } from '../../src/backends/proxmox/errors.ts';
import { normaliseFingerprint } from '../../src/backends/proxmox/transport.ts';
import { BackendError } from '../../src/datum/backend.ts';
import { selfSignedServingCert } from '../../src/localenv/certs.ts';

const TOKEN_ID = 'datum@pve!provider';
const SECRET = '5f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f';

/** One answer: a status with PVE's message in the reason phrase, a JSON body, or a dropped connection. */
type Reply = { status: number; reason?: string; body?: unknown } | 'drop';

interface Seen {
  method: string;
  path: string;
  auth: string;
  body: string;
}

describe('proxmox client (local HTTPS server, no simulator)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pve-client-unit-'));
  const { cert, key } = selfSignedServingCert(dir, 'pve-unit');
  const fingerprint = new X509Certificate(cert).fingerprint256;
  let server: Server;
  let port: number;
  let seen: Seen[] = [];
  let replies: Reply[] = [];
  /** The last reply repeats once the script is used up. */
  const script = (...r: Reply[]) => {
    replies = r;
  };
  const ok = (data: unknown): Reply => ({ status: 200, body: { data } });
  const pveError = (status: number, reason: string): Reply => ({ status, reason, body: { data: null } });

  // A TCP front that drops the first `dropConnections` connections before TLS (a refused/failed connect:
  // nothing was sent), then forwards to the HTTPS server.
  let front: NetServer;
  let frontPort: number;
  let dropConnections = 0;
  let connections = 0;
  const frontSockets = new Set<Socket>();

  before(async () => {
    server = createHttpsServer({ cert, key }, (req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          path: req.url ?? '',
          auth: req.headers.authorization ?? '',
          body,
        });
        const r = replies[Math.min(seen.length - 1, replies.length - 1)] ?? ok(null);
        if (r === 'drop') return req.socket.destroy();
        res.statusCode = r.status;
        if (r.reason) res.statusMessage = r.reason;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(r.body ?? { data: null }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    front = createNetServer((sock: Socket) => {
      connections++;
      frontSockets.add(sock);
      if (connections <= dropConnections) return sock.destroy();
      const up = connect(port, '127.0.0.1');
      frontSockets.add(up);
      sock.pipe(up).pipe(sock);
      up.on('error', () => sock.destroy());
      sock.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    frontPort = (front.address() as { port: number }).port;
  });
  after(async () => {
    for (const s of frontSockets) s.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await new Promise((r) => front.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    seen = [];
    replies = [];
    connections = 0;
    dropConnections = 0;
  });

  const client = (o: Partial<ProxmoxClientOptions> = {}) =>
    new ProxmoxClient({
      endpoint: `https://127.0.0.1:${port}`,
      tokenId: TOKEN_ID,
      tokenSecret: SECRET,
      trust: { kind: 'fingerprint', sha256: fingerprint },
      maxAttempts: 4,
      baseBackoffMs: 2,
      timeoutMs: 5_000,
      ...o,
    });
  const o = () => ({ signal: AbortSignal.timeout(10_000) });
  const failure = async (p: Promise<unknown>): Promise<Error> => {
    try {
      await p;
    } catch (err) {
      return err as Error;
    }
    assert.fail('expected the call to fail');
  };

  describe('TLS trust and fingerprints', () => {
    it('reads a SHA-256 fingerprint in the forms PVE and openssl print, and refuses anything else', () => {
      const hex = 'ab'.repeat(32);
      const colons = hex.toUpperCase().match(/../g)?.join(':') ?? '';
      assert.equal(normaliseFingerprint(colons), hex);
      assert.equal(normaliseFingerprint(` ${hex.toUpperCase()} `), hex);
      assert.equal(normaliseFingerprint(fingerprint), fingerprint.replace(/:/g, '').toLowerCase());
      for (const bad of ['', 'ab'.repeat(20), `${hex}00`, 'zz'.repeat(32), `sha256:${hex}`])
        assert.throws(() => normaliseFingerprint(bad), TlsVerificationError, JSON.stringify(bad));
    });

    it('a pinned fingerprint or the CA bundle is trusted, and the token is sent only then', async () => {
      script(ok({ version: '8.4.1' }));
      assert.deepEqual(await client().get('/version', undefined, o()), { version: '8.4.1' });
      assert.deepEqual(await client({ trust: { kind: 'ca', ca: cert } }).get('/version', undefined, o()), {
        version: '8.4.1',
      });
      assert.equal(seen.length, 2);
      assert.equal(seen[0]?.auth, `PVEAPIToken=${TOKEN_ID}=${SECRET}`);
      assert.equal(seen[0]?.path, '/api2/json/version');
    });

    it('a wrong pin, a foreign CA or no trust at all fails before any request (no retry, no token sent)', async () => {
      const other = selfSignedServingCert(dir, 'other-ca').cert;
      for (const trust of [
        { kind: 'fingerprint' as const, sha256: 'AB:'.repeat(31) + 'AB' },
        { kind: 'ca' as const, ca: other },
        { kind: 'system' as const },
      ]) {
        const err = await failure(client({ trust }).get('/version', undefined, o()));
        assert.ok(err instanceof TlsVerificationError, `${trust.kind}: ${err}`);
        const be = toBackendError(err, 'read version', [SECRET]);
        assert.equal(be.reason, 'InvalidConfiguration');
        assert.equal(be.retryable, false);
      }
      assert.equal(seen.length, 0, 'nothing reached the server');
    });

    it('only https endpoints are accepted', () => {
      assert.throws(() => client({ endpoint: `http://127.0.0.1:${port}` }), /must be https/);
    });
  });

  describe('retries', () => {
    it('a GET is retried on 5xx and connection drops, and gives up after maxAttempts', async () => {
      script(pveError(503, 'service unavailable'), 'drop', ok({ n: 1 }));
      assert.deepEqual(await client().get('/nodes', undefined, o()), { n: 1 });
      assert.equal(seen.length, 3);
      seen = [];
      script(pveError(502, 'proxy error'));
      const err = await failure(client({ maxAttempts: 3 }).get('/nodes', undefined, o()));
      assert.ok(err instanceof ProxmoxApiError && err.status === 502);
      assert.equal(seen.length, 3, 'exactly maxAttempts requests');
    });

    it('a POST whose answer was lost or that PVE failed (5xx) is never repeated', async () => {
      script('drop', ok('UPID:pve1:x'));
      const lost = await failure(client().post('/nodes/pve1/qemu', { vmid: 100 }, o()));
      assert.ok(lost instanceof ExchangeError, String(lost));
      assert.equal(seen.length, 1, 'one POST only');
      seen = [];
      script(pveError(503, 'service unavailable'), ok('UPID:pve1:x'));
      await failure(client().post('/nodes/pve1/qemu', { vmid: 100 }, o()));
      assert.equal(seen.length, 1);
      seen = [];
      script(pveError(500, 'unable to create VM 100 - VM 100 already exists on node pve2'), ok(null));
      const exists = await failure(client().post('/nodes/pve1/qemu', { vmid: 100 }, o()));
      assert.ok(isAlreadyExists(exists), 'the message is read from the status line');
      assert.equal(seen.length, 1);
    });

    it('a refusal proving nothing was done (lock timeout, no quorum) is retried for any method', async () => {
      script(
        pveError(500, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"),
        pveError(500, 'cluster not ready - no quorum?'),
        ok('UPID:pve1:y'),
      );
      assert.equal(await client().post('/nodes/pve1/qemu/100/status/start', undefined, o()), 'UPID:pve1:y');
      assert.equal(seen.length, 3);
      assert.ok(seen.every((s) => s.method === 'POST'));
    });

    it('a write the caller marks idempotent is retried like a GET; unmarked it is not', async () => {
      script('drop', ok(null));
      await client().put('/nodes/pve1/qemu/100/config', { cores: 2 }, { ...o(), idempotent: true });
      assert.equal(seen.length, 2);
      assert.deepEqual(
        seen.map((s) => s.body),
        ['cores=2', 'cores=2'],
      );
      seen = [];
      script('drop', ok(null));
      await failure(client().put('/nodes/pve1/qemu/100/config', { cores: 2 }, o()));
      assert.equal(seen.length, 1);
    });

    it('a failed connect (nothing sent) is retried even for a POST', async () => {
      dropConnections = 2;
      script(ok('UPID:pve1:z'));
      const c = client({ endpoint: `https://127.0.0.1:${frontPort}` });
      assert.equal(await c.post('/nodes/pve1/qemu', { vmid: 7 }, o()), 'UPID:pve1:z');
      assert.equal(connections, 3);
      assert.equal(seen.length, 1, 'the POST reached the server once');
      dropConnections = 100;
      connections = 0;
      const err = await failure(c.post('/nodes/pve1/qemu', { vmid: 7 }, o()));
      assert.ok(err instanceof ConnectError, String(err));
      assert.equal(connections, 4, 'maxAttempts connects');
      assert.equal(toBackendError(err, 'create', [SECRET]).reason, 'Transient');
    });

    it('client errors (400, 401, 403, 404) are never retried', async () => {
      for (const status of [400, 401, 403, 404]) {
        seen = [];
        script(pveError(status, 'no'), ok(null));
        await failure(client().get('/nodes', undefined, o()));
        assert.equal(seen.length, 1, `HTTP ${status}`);
      }
    });

    it('an abort during the backoff stops the retries at once', async () => {
      script(pveError(503, 'service unavailable'));
      const ac = new AbortController();
      const started = Date.now();
      const p = client({ baseBackoffMs: 60_000, maxAttempts: 5 }).get('/nodes', undefined, {
        signal: ac.signal,
      });
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
      ac.abort(new Error('shutting down'));
      const err = await failure(p);
      assert.equal(err.message, 'shutting down');
      assert.equal(seen.length, 1);
      assert.ok(Date.now() - started < 5_000);
    });
  });

  describe('error catalogue', () => {
    const mapped = async (reply: Reply, method: 'get' | 'post' = 'get') => {
      script(reply);
      const err = await failure(
        method === 'get' ? client().get('/x', undefined, o()) : client().post('/x', undefined, o()),
      );
      return { err, be: toBackendError(err, 'op', [SECRET]) };
    };

    it('maps PVE statuses and words to reasons', async () => {
      const cases: [Reply, string, boolean][] = [
        [pveError(401, 'authentication failure'), 'CredentialsInvalid', false],
        [pveError(403, 'Permission check failed (/vms/100, VM.Allocate)'), 'CredentialsInvalid', false],
        [pveError(404, 'Not Found'), 'NotFound', false],
        [pveError(429, 'too many requests'), 'Throttled', true],
        [pveError(500, 'Configuration file nodes/pve1/qemu-server/5.conf does not exist'), 'NotFound', false],
        [pveError(500, 'VM 100 already exists on node pve2'), 'Transient', true],
        [pveError(595, 'Connection refused'), 'Transient', true],
      ];
      for (const [reply, reason, retryable] of cases) {
        const { be } = await mapped(reply, 'post');
        assert.equal(be.reason, reason, JSON.stringify(reply));
        assert.equal(be.retryable, retryable, JSON.stringify(reply));
      }
      const forbidden = (await mapped(pveError(403, 'Permission check failed (/vms/100, VM.Allocate)'))).be;
      assert.match(
        forbidden.message,
        /lacks a privilege.*Permission check failed \(\/vms\/100, VM\.Allocate\)/,
      );
      const quorum = (await mapped(pveError(500, 'cluster not ready - no quorum?'), 'post')).be;
      assert.equal(quorum.reason, 'Transient');
      assert.ok((quorum.retryAfterMs ?? 0) > 0);
    });

    it('a 400 keeps PVE per-parameter errors', async () => {
      const { err, be } = await mapped({
        status: 400,
        reason: 'Parameter verification failed.',
        body: { data: null, errors: { memory: 'value must have a minimum value of 16\n' } },
      });
      assert.ok(err instanceof ProxmoxApiError);
      assert.equal(be.reason, 'InvalidConfiguration');
      assert.equal(
        be.message,
        'op: Parameter verification failed.; memory: value must have a minimum value of 16',
      );
    });

    it('a task ending in error: lock and timeout are transient, anything else is a configuration error', async () => {
      const upid = 'UPID:pve1:0000A1B2:0012C3D4:6750A1B2:qmclone:9000:datum@pve!provider:';
      for (const [exit, reason] of [
        ["can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout", 'Transient'],
        ['storage local-lvm does not support vm images', 'InvalidConfiguration'],
      ] as const) {
        seen = [];
        script(ok({ status: 'running' }), ok({ status: 'stopped', exitstatus: exit }));
        const err = await failure(client().waitTask(upid, { ...o(), pollMs: 1 }));
        assert.ok(err instanceof ProxmoxTaskError);
        assert.equal(toBackendError(err, 'clone', [SECRET]).reason, reason);
        assert.equal(seen[0]?.path, `/api2/json/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`);
      }
      script(ok({ status: 'stopped', exitstatus: 'WARNINGS: 1' }));
      await client().waitTask(upid, o());
    });

    it('isNotFound and isAlreadyExists read PVE errors and BackendErrors', () => {
      const api = (s: number, m: string) => new ProxmoxApiError(s, m, 'GET', '/x', {});
      assert.ok(isNotFound(api(404, 'Not Found')));
      assert.ok(isNotFound(api(500, 'VM 5 does not exist')));
      assert.ok(isNotFound(new BackendError('NotFound', 'gone')));
      assert.ok(!isNotFound(api(500, 'no quorum')));
      assert.ok(isAlreadyExists(api(500, 'VM 100 already exists on node pve1')));
      assert.ok(!isAlreadyExists(new Error('already exists')), 'only an answer of PVE counts');
    });
  });

  describe('the token secret never appears in an error', () => {
    it('an answer echoing the Authorization header is redacted, in the client error and the BackendError', async () => {
      for (const status of [401, 403, 500, 400]) {
        script({
          status,
          reason: 'rejected',
          body: { data: null, message: `bad header PVEAPIToken=${TOKEN_ID}=${SECRET}` },
        });
        const err = await failure(client().get('/access/permissions', undefined, o()));
        const be = toBackendError(err, 'check', [SECRET]);
        for (const text of [err.message, String(err), be.message, JSON.stringify(be), String(be.cause)])
          assert.ok(!text.includes(SECRET), `HTTP ${status}: ${text}`);
        assert.match(be.message, /\[redacted\]/);
      }
    });

    it('messages of any other error pass through the redactor, and short values are not mangled', () => {
      const be = toBackendError(new Error(`socket to ${SECRET} failed`), 'op', [SECRET]);
      assert.equal(be.message, 'op: socket to [redacted] failed');
      assert.equal(
        redact('abc and abc', ['abc']),
        'abc and abc',
        'values under 4 characters are not secrets',
      );
      assert.equal(redact('x', ['']), 'x');
    });
  });
});
