/**
 * Runs vcsim (govmomi's vSphere simulator, built like the other binaries) on 127.0.0.1 on a free port, with
 * our own serving certificate so clients verify it (CA bundle or pinned fingerprint) instead of skipping
 * verification. The process lives in its own process group under a `ProcessGroup`, whose detached reaper
 * kills it if the test process dies, even by SIGKILL.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { resolveBinary } from '../../binaries.ts';
import { selfSignedServingCert } from '../../certs.ts';
import { logTail, type Managed, ProcessGroup, sleep } from '../../process.ts';
import { freePort } from '../moto/server.ts';
import { startVimProxy, type VimProxy } from './proxy.ts';

export interface Vcsim {
  /** `https://127.0.0.1:<port>/sdk`: the fault proxy (what clients use). */
  endpoint: string;
  /** vcsim itself, bypassing faults. */
  simEndpoint: string;
  proxy: VimProxy;
  port: number;
  username: string;
  password: string;
  /** PEM of the serving certificate (self-signed: it is its own CA). */
  caPem: string;
  /** SHA-256 fingerprint of the serving certificate, `AA:BB:...`. */
  fingerprintSha256: string;
  pid: number;
  logPath: string;
  /**
   * Stops the vcsim process (what a vCenter restart or outage looks like to clients: the proxy answers 502),
   * leaving the proxy up. vcsim keeps its inventory and sessions in memory only, so they are lost.
   */
  kill(): Promise<void>;
  /** Starts vcsim again on the same port with the same options: a fresh default inventory, no sessions. */
  revive(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartVcsimOptions {
  username?: string;
  password?: string;
  /**
   * vcsim `-method-delay` (ms). A method name (`CloneVM_Task`) delays that call's response; a task name
   * (`CloneVm`, `PowerOn`, `PowerOff`, `Destroy`, `ReconfigVm`) delays the task after the call returned, so
   * it really runs asynchronously. `LockHandoff: 0` lets reads of the task's VM proceed meanwhile (as
   * vCenter does).
   */
  methodDelayMs?: Record<string, number>;
  /** vcsim `-delay`: every method's response delay (ms). */
  delayMs?: number;
  log?: (m: string) => void;
  readyTimeoutMs?: number;
}

export async function startVcsim(opts: StartVcsimOptions = {}): Promise<Vcsim> {
  const bin = await resolveBinary('vcsim', { log: opts.log });
  const group = new ProcessGroup();
  const dir = group.tempDir('datum-vcsim-');
  const { cert, key } = selfSignedServingCert(dir, 'vcsim');
  // vcsim puts the credentials in a URL's userinfo and compares the parsed form: keep them URL-plain.
  const username = opts.username ?? 'datum-admin';
  const password = opts.password ?? `vcsim-${Math.random().toString(36).slice(2, 12)}`;
  const fingerprintSha256 = new X509Certificate(cert).fingerprint256;
  let lastError = '';
  // A free port can be taken between our probe and vcsim's bind: retry with another one.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = [
      '-l',
      `127.0.0.1:${port}`,
      '-username',
      username,
      '-password',
      password,
      '-tlscert',
      join(dir, 'vcsim.crt'),
      '-tlskey',
      join(dir, 'vcsim.key'),
      // vcsim prints its URL with the credentials in it: not into our log file.
      '-E',
      '/dev/null',
    ];
    if (opts.methodDelayMs && Object.keys(opts.methodDelayMs).length)
      args.push(
        '-method-delay',
        Object.entries(opts.methodDelayMs)
          .map(([m, ms]) => `${m}:${ms}`)
          .join(','),
      );
    if (opts.delayMs) args.push('-delay', String(opts.delayMs));
    let proc = group.start('vcsim', bin, args, dir);
    const endpoint = `https://127.0.0.1:${port}/sdk`;
    if ((await waitReady(endpoint, cert, proc, opts.readyTimeoutMs ?? 30_000)) === 'ready') {
      let proxy: VimProxy;
      try {
        proxy = await startVimProxy(endpoint, cert, key);
      } catch (err) {
        await group.stopAll();
        throw err;
      }
      return {
        endpoint: proxy.endpoint,
        simEndpoint: endpoint,
        proxy,
        port,
        username,
        password,
        caPem: cert,
        fingerprintSha256,
        pid: proc.child.pid!,
        logPath: proc.logPath,
        async kill() {
          await group.stopOne(proc);
        },
        async revive() {
          proc = group.start('vcsim', bin, args, dir);
          if ((await waitReady(endpoint, cert, proc, opts.readyTimeoutMs ?? 30_000)) !== 'ready')
            throw new Error(`vcsim did not start again:\n${logTail(proc.logPath)}`);
        },
        async stop() {
          await proxy.close();
          await group.stopAll();
        },
      };
    }
    lastError = logTail(proc.logPath);
    await group.stopOne(proc);
  }
  await group.stopAll();
  throw new Error(`vcsim did not start:\n${lastError}`);
}

const PROBE =
  '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">' +
  '<soapenv:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this>' +
  '</RetrieveServiceContent></soapenv:Body></soapenv:Envelope>';

async function waitReady(endpoint: string, ca: string, proc: Managed, timeoutMs: number) {
  const agent = new Agent({ connect: { ca } });
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc.exited.then(() => {
    exited = true;
  });
  try {
    while (Date.now() < deadline && !exited) {
      try {
        const res = await request(endpoint, {
          method: 'POST',
          body: PROBE,
          headers: { 'content-type': 'text/xml', soapaction: '"urn:vim25/8.0"' },
          dispatcher: agent,
          signal: AbortSignal.timeout(2000),
        });
        const body = await res.body.text();
        if (res.statusCode === 200 && body.includes('rootFolder')) return 'ready';
      } catch {}
      await sleep(100);
    }
    return 'failed';
  } finally {
    await agent.close();
  }
}
