/**
 * The subjects under test, each a separate process talking to the same API server with the same identity:
 *   ours   the provider's CLI (`src/cli/main.ts run --kubeconfig …`) with the in-memory backend
 *   go     a minimal controller-runtime program (bench/go-baseline), same minimal work per Instance
 *   floor  a trivial plain-HTTP client sending only the writes every controller must send (harness/floor.ts)
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../../src/localenv/binaries.ts';
import { freePort } from '../../src/localenv/controlplane.ts';
import type { Managed, ProcessGroup } from '../../src/localenv/process.ts';

export type SubjectName = 'ours' | 'go' | 'floor';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const GO_BASELINE_BIN = join(cacheRoot(), 'bin', 'bench-go-baseline');

export interface SubjectOptions {
  kubeconfig: string;
  workers: number;
  /** In-memory backend: ms an instance stays pending / stopping (platform latency); 0 = none. */
  backendLatencyMs: number;
  /** Write a V8 CPU profile of the provider into this folder (ours only). */
  cpuProfDir?: string;
  logDir: string;
}

export interface RunningSubject {
  name: SubjectName;
  pid: number;
  startedAt: number;
  /** Prometheus endpoint, for subjects that have one (ours, go). */
  metricsUrl?: string;
  proc: Managed;
  stop(): Promise<void>;
}

export async function startSubject(
  name: SubjectName,
  group: ProcessGroup,
  o: SubjectOptions,
): Promise<RunningSubject> {
  const metricsPort = await freePort();
  const metricsAddr = `127.0.0.1:${metricsPort}`;
  let bin: string;
  let args: string[];
  let env: NodeJS.ProcessEnv = process.env;
  if (name === 'ours') {
    const settings = join(o.logDir, 'settings.yaml');
    writeFileSync(
      settings,
      [
        'apiVersion: infra.provider-ts.io/v1alpha1',
        'kind: ProviderSettings',
        'backend: inmemory',
        `maxConcurrentReconciles: ${o.workers}`,
        `metricsBindAddress: "${metricsAddr}"`,
        `healthProbeBindAddress: "127.0.0.1:${await freePort()}"`,
        '',
      ].join('\n'),
    );
    bin = process.execPath;
    args = [
      ...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []),
      join(ROOT, 'src/cli/main.ts'),
      'run',
      '--kubeconfig',
      o.kubeconfig,
      '--settings',
      settings,
    ];
    const lat = String(o.backendLatencyMs);
    // The platform outlives a restart of the provider (written once at shutdown), as a real one does.
    const snapshotFile = join(o.logDir, 'inmemory-platform.json');
    env = {
      ...process.env,
      DATUM_BACKEND_CONFIG: JSON.stringify({ pendingMs: lat, stoppingMs: lat, snapshotFile }),
    };
  } else if (name === 'go') {
    if (!existsSync(GO_BASELINE_BIN))
      throw new Error(`${GO_BASELINE_BIN} is missing: build it with bench/go-baseline/build.sh`);
    bin = GO_BASELINE_BIN;
    args = ['--kubeconfig', o.kubeconfig, '--workers', String(o.workers), '--metrics-addr', metricsAddr];
  } else {
    bin = process.execPath;
    args = [
      join(ROOT, 'bench/harness/floor.ts'),
      '--kubeconfig',
      o.kubeconfig,
      '--workers',
      String(o.workers * 2),
    ];
  }
  const startedAt = performance.now();
  const proc = group.start(`subject-${name}`, bin, args, o.logDir, env);
  await new Promise((r) => proc.child.once('spawn', r));
  return {
    name,
    pid: proc.child.pid!,
    startedAt,
    metricsUrl: name === 'floor' ? undefined : `http://${metricsAddr}/metrics`,
    proc,
    stop: () => group.stopOne(proc, 15_000),
  };
}

/** Sum of a Prometheus metric's samples whose labels match `labelFilter` (a substring), or undefined. */
export async function scrape(url: string, metric: string, labelFilter = ''): Promise<number | undefined> {
  try {
    const text = await (await fetch(url)).text();
    let sum: number | undefined;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
      if (labelFilter && !line.includes(labelFilter)) continue;
      sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  } catch {
    return undefined;
  }
}
