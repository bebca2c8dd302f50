/**
 * The getting-started flow end to end, for any backend with a local platform: the README's run command
 * (`run --backend <name>`), non-interactively, with each upstream. Every example Instance must become Ready=True
 * (written by the upstream, never by the provider) with addresses; deleting the examples must remove every
 * backend resource; SIGTERM must stop everything, the platform's emulator included.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  INSTANCE,
  NETWORK,
  NETWORK_CONTEXT,
  SUBNET,
  SUBNET_CLAIM,
  WORKLOAD,
} from '../../src/datum/api/resources.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { resolveBinary, upstreamBuildable } from '../../src/localenv/binaries.ts';
import { createClient } from '../../src/runtime/client/client.ts';
import { loadKubeconfig } from '../../src/runtime/client/config.ts';
import type { Condition } from '../../src/runtime/client/types.ts';
import { instanceVersions, readyChanges } from './audit.ts';

export interface GettingStartedOptions {
  /** `--backend` of the run command (a local platform of `src/localenv/platforms/`). */
  backend: string;
  /** Lines (`<name>: <value>`) the command must print, e.g. `ec2-endpoint`; http ones must be stopped after. */
  endpointLines?: string[];
  /** Whether the examples get an external IP on this backend (default: they must). */
  externalIP?: boolean;
  /** What the backend still holds after the examples are deleted (read from the platform itself). */
  leftovers(out: string, dataDir: string): Promise<string[]>;
  /**
   * Example Instances that must become Ready (default: all three). Any other example Instance must be refused
   * with `refusedReason` (e.g. sandbox Instances on a backend without the sandbox runtime).
   */
  expectReady?: string[];
  refusedReason?: string;
  /** Checks after the command stopped (e.g. a downstream cluster is gone too). */
  afterStop?(out: string, dataDir: string): Promise<void>;
}

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  what: string,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function tcpConnect(url: string): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect({ host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) });
    sock.once('connect', () => {
      sock.destroy();
      resolve();
    });
    sock.once('error', reject);
  });
}

export function processesUsing(dir: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) out.push(Number(pid));
    } catch {}
  }
  return out.filter((p) => p !== process.pid);
}

/**
 * Ready comes from the upstream only: over the whole run (creation to deletion), every stored version of an
 * Instance whose Ready differs from the version before was written by the upstream, never by the provider
 * (its client's user agent is the manager's name, `datum-provider`). The provider's own status writes are in
 * the same record, so the check sees them.
 */
const ALL_EXAMPLES = ['vm-london-lhr-0', 'web-dallas-dfw-0', 'web-dallas-dfw-1'];

function readyOnlyFromUpstream(
  t: TestContext,
  auditLog: string,
  upstream: 'standalone' | 'real',
  expectReady: string[],
): void {
  const versions = instanceVersions(auditLog);
  const isProvider = (ua: string) => ua.startsWith('datum-provider');
  const changes = readyChanges(versions);
  t.diagnostic(`Ready written by: ${[...new Set(changes.map((c) => c.userAgent))].join(' | ')}`);
  assert.ok(
    versions.some((v) => isProvider(v.userAgent) && v.subresource === 'status'),
    "the provider's status writes are in the record",
  );
  for (const name of expectReady)
    assert.ok(
      changes.some((c) => c.name === name && c.to?.status === 'True'),
      `${name}: the write that made it Ready is in the record`,
    );
  assert.deepEqual(
    changes.filter((c) => isProvider(c.userAgent)),
    [],
    'the provider never changed Ready',
  );
  // The writers are the upstream's: our stand-in's manager, or Datum's compute operator (a Go client).
  const ours = ['datum-provider', 'datum-testkit', 'datum-provider-ts', 'standalone-upstream'];
  for (const c of changes)
    if (upstream === 'standalone') assert.equal(c.userAgent, 'standalone-upstream', JSON.stringify(c));
    else {
      assert.ok(!ours.some((p) => c.userAgent.startsWith(p)), JSON.stringify(c));
      assert.match(c.userAgent, /^compute\//, `Datum's compute operator wrote it: ${JSON.stringify(c)}`);
    }
}

/**
 * Why the real operators cannot run here, or undefined. Where their sources are (../shared/upstream) they
 * must build: a failure then fails the test instead of skipping it.
 */
async function realUpstreamUnavailable(): Promise<string | undefined> {
  if (upstreamBuildable()) {
    await resolveBinary('compute');
    await resolveBinary('nso');
    return undefined;
  }
  try {
    await resolveBinary('compute');
    await resolveBinary('nso');
    return undefined;
  } catch (err) {
    return `real Datum operators cannot be obtained here: ${
      String((err as Error).message)
        .split('\n')
        .slice(-1)[0]
    }`;
  }
}

export function gettingStartedSuite(opts: GettingStartedOptions): void {
  for (const upstream of ['standalone', 'real'] as const) {
    describe(`getting started (${opts.backend}) with the ${upstream} upstream`, () => {
      it('runs the examples to Ready, tears them down without leftovers, and stops cleanly', async (t) => {
        if (upstream === 'real') {
          const why = await realUpstreamUnavailable();
          if (why) return t.skip(why);
        }
        const dataDir = mkdtempSync(join(tmpdir(), `getting-started-${upstream}-`));
        const started = Date.now();
        // Every write to an Instance, with its writer, from the API server's own record (see audit.ts).
        const auditLog = join(dataDir, 'audit.log');
        const child = spawn(
          process.execPath,
          [MAIN, 'run', '--backend', opts.backend, '--upstream', upstream, '--data-dir', dataDir],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, DATUM_AUDIT_LOG: auditLog },
          },
        );
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          out += d;
        });
        const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
        try {
          // The header ends with the `backend:` line; its lines may arrive in separate chunks.
          await eventually(
            async () => /^backend: /m.test(out),
            'the header (up to its backend: line)',
            180_000,
          ).catch((err) => {
            throw new Error(`${err.message}; output so far:\n${out}`);
          });
          const kubeconfig = /^kubeconfig: (.+)$/m.exec(out)![1]!;
          assert.match(out, /^location-class: datum-provider-ts$/m);
          assert.match(out, new RegExp(`^upstream: ${upstream}$`, 'm'), 'it says which upstream runs');
          for (const line of opts.endpointLines ?? [])
            assert.match(out, new RegExp(`^${line}: \\S+$`, 'm'), `it prints ${line}:`);
          const client = createClient(loadKubeconfig(kubeconfig));
          const ready = (i: Instance) =>
            (i.status?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Ready')?.status ===
            'True';
          const expectReady = opts.expectReady ?? ALL_EXAMPLES;
          const refused = (i: Instance) =>
            (i.status?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Programmed')
              ?.reason === opts.refusedReason;
          const instances = await eventually(
            async () => {
              const all = (await client.list<Instance>(INSTANCE)).items;
              const l = all.filter((i) => expectReady.includes(i.metadata.name!));
              return l.length === expectReady.length &&
                l.every(
                  (i) =>
                    ready(i) &&
                    i.status?.networkInterfaces?.[0]?.assignments?.networkIP &&
                    (opts.externalIP === false || i.status?.networkInterfaces?.[0]?.assignments?.externalIP),
                ) &&
                (expectReady.length === ALL_EXAMPLES.length ||
                  (all.length > l.length && all.filter((i) => !l.includes(i)).every(refused)))
                ? l
                : undefined;
            },
            `example Instances ${expectReady.join(', ')} Ready with addresses${opts.refusedReason ? `, the others refused (${opts.refusedReason})` : ''}`,
            240_000,
          ).catch(async (err) => {
            // Say where each one stands, and what the provider said last, instead of a bare timeout.
            const states = (
              await client.list<Instance>(INSTANCE).catch(() => ({ items: [] as Instance[] }))
            ).items
              .map(
                (i) =>
                  `${i.metadata.name}: ${((i.status?.conditions as Condition[] | undefined) ?? [])
                    .map(
                      (c) =>
                        `${c.type}=${c.status}/${c.reason}${c.message ? ` (${c.message.slice(0, 160)})` : ''}`,
                    )
                    .join(', ')} ip=${i.status?.networkInterfaces?.[0]?.assignments?.networkIP ?? '-'}`,
              )
              .join('\n');
            const log = existsSync(join(dataDir, 'provider.log'))
              ? readFileSync(join(dataDir, 'provider.log'), 'utf8').split('\n').slice(-15).join('\n')
              : '';
            throw new Error(`${(err as Error).message}\n${states}\nprovider log (last lines):\n${log}`);
          });
          const readyAfter = Date.now() - started;
          t.diagnostic(`all ${instances.length} example Instances Ready ${readyAfter} ms after the command`);
          assert.deepEqual(instances.map((i) => i.metadata.name).sort(), [...expectReady].sort());
          // The leftovers check sees what the examples hold while they run (so its empty answer later means gone).
          const held = await opts.leftovers(out, dataDir);
          t.diagnostic(`the backend holds for the examples: ${held.join(', ')}`);
          assert.ok(
            held.length >= expectReady.length,
            `the leftovers check sees the running examples: ${held.join(', ')}`,
          );

          for (const w of ['web', 'vm']) await client.delete(WORKLOAD, w, 'default');
          await eventually(
            async () => (await client.list(INSTANCE)).items.length === 0,
            'instances deleted',
            120_000,
          );
          const deleting = Date.now();
          await client.delete(NETWORK, 'default', 'default');
          // The bound: everything network-side gone within 60 s (NSO deletes the contexts; the garbage
          // collector their claims and subnets; our finalizers the backend's VPCs and subnets).
          await eventually(
            async () => {
              for (const r of [NETWORK, NETWORK_CONTEXT, SUBNET_CLAIM, SUBNET])
                if ((await client.list(r)).items.length > 0) return false;
              return true;
            },
            'networks, contexts, claims and subnets deleted',
            60_000,
          );
          t.diagnostic(`network teardown took ${Date.now() - deleting} ms`);
          assert.deepEqual(await opts.leftovers(out, dataDir), [], 'no backend resource left');
          await client.close();
          readyOnlyFromUpstream(t, auditLog, upstream, opts.expectReady ?? ALL_EXAMPLES);
        } catch (err) {
          // On failure, still stop everything and remove the data before reporting.
          child.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
          rmSync(dataDir, { recursive: true, force: true });
          throw err;
        }
        child.kill('SIGTERM');
        assert.equal(await exited, 0, `exit code 0 after SIGTERM; output:\n${out.slice(-3000)}`);
        await eventually(async () => processesUsing(dataDir).length === 0, 'no process left', 15_000);
        for (const line of opts.endpointLines ?? []) {
          const endpoint = new RegExp(`^${line}: (.+)$`, 'm').exec(out)?.[1];
          // A TCP connect, not a fetch: an https endpoint with a self-signed certificate fails a fetch anyway.
          if (endpoint?.startsWith('http'))
            await assert.rejects(tcpConnect(endpoint), `${line}: stopped too`);
        }
        await opts.afterStop?.(out, dataDir);
        try {
          assert.ok(existsSync(join(dataDir, 'etcd')), 'control-plane data kept for a restart');
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      });
    });
  }
}
