/**
 * A local Compute Engine API for tests and for trying the GCP backend: gcplocal on 127.0.0.1 behind our
 * realism and fault proxy. `stop()` at the end (a reaper kills gcplocal if the test process dies first).
 */
import type { GceFaultRule } from './faults.ts';
import { type GceFaultProxy, type GceProxyTimings, startGceProxy } from './proxy.ts';
import { startGcplocal } from './server.ts';

export interface GceEmulator {
  /** The proxy's address: what clients use. */
  endpoint: string;
  /** gcplocal itself, bypassing the proxy (what really exists, for test assertions). */
  gcplocalEndpoint: string;
  project: string;
  region: string;
  proxy: GceFaultProxy;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startGceEmulator(
  opts: {
    project?: string;
    region?: string;
    timings?: Partial<GceProxyTimings>;
    faults?: GceFaultRule[];
    log?: (m: string) => void;
  } = {},
): Promise<GceEmulator> {
  const server = await startGcplocal({ log: opts.log });
  let proxy: GceFaultProxy;
  try {
    proxy = await startGceProxy(server.endpoint, { timings: opts.timings, faults: opts.faults });
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    endpoint: proxy.endpoint,
    gcplocalEndpoint: server.endpoint,
    project: opts.project ?? 'datum-local',
    region: opts.region ?? 'us-central1',
    proxy,
    async reset() {
      await server.reset();
      proxy.reset();
    },
    async stop() {
      await proxy.close();
      await server.stop();
    },
  };
}

/** Names of what exists in gcplocal (bypassing the proxy): instances, networks, subnetworks, firewalls. */
export async function gcplocalInventory(
  gcplocalEndpoint: string,
  project: string,
  where: { zones: string[]; regions: string[] },
): Promise<string[]> {
  const base = `${gcplocalEndpoint}/compute/v1/projects/${project}`;
  const paths = [
    ...where.zones.map((z) => `zones/${z}/instances`),
    'global/networks',
    ...where.regions.map((r) => `regions/${r}/subnetworks`),
    'global/firewalls',
  ];
  const out: string[] = [];
  for (const p of paths) {
    const res = await fetch(`${base}/${p}`);
    const body = (await res.json()) as { items?: { name: string }[] };
    for (const i of body.items ?? []) out.push(`${p.split('/').pop()}/${i.name}`);
  }
  return out;
}
