/** `datum-provider status`: every Instance with its conditions, grouped by Workload, and why it is not ready. */

import { INSTANCE, WORKLOAD } from '../datum/api/resources.ts';
import type { Instance, Workload } from '../datum/api/types.ts';
import { createClient } from '../runtime/client/client.ts';
import { type ClusterConfig, defaultKubeconfigPath, resolveClusterConfig } from '../runtime/client/config.ts';
import { ApiError, ExecCredentialError, KubeconfigError, TransportError } from '../runtime/client/errors.ts';
import type { Condition } from '../runtime/client/types.ts';

const WORKLOAD_UID = 'compute.datumapis.com/workload-uid';
const WD_NAME = 'compute.datumapis.com/workload-deployment-name';

export function formatStatus(instances: Instance[], workloads: Workload[]): string {
  const byUid = new Map(workloads.map((w) => [w.metadata.uid, `${w.metadata.namespace}/${w.metadata.name}`]));
  const groups = new Map<string, Instance[]>();
  for (const i of instances) {
    // A cell has WorkloadDeployments (propagated from the hub) but no Workloads.
    const wd = i.metadata.labels?.[WD_NAME];
    const workload = byUid.get(i.metadata.labels?.[WORKLOAD_UID] ?? '');
    const key = workload
      ? `Workload ${workload}`
      : wd
        ? `WorkloadDeployment ${i.metadata.namespace}/${wd}`
        : 'Workload (no workload)';
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  const c = (i: Instance, t: string) =>
    (i.status?.conditions as Condition[] | undefined)?.find((x) => x.type === t);
  const lines: string[] = [];
  for (const [w, list] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(w);
    for (const i of list.sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!))) {
      const ready = c(i, 'Ready');
      const a = i.status?.networkInterfaces?.[0]?.assignments;
      const loc = i.spec?.location
        ? i.spec.location.namespace
          ? `${i.spec.location.namespace}/${i.spec.location.name}`
          : i.spec.location.name
        : '-';
      // The provider's second condition: Running (classic) or Available (cell generation).
      const second = c(i, 'Available') ? 'Available' : 'Running';
      lines.push(
        `  ${i.metadata.namespace}/${i.metadata.name}  location=${loc}  Programmed=${c(i, 'Programmed')?.status ?? '-'}  ${second}=${c(i, second)?.status ?? '-'}  Ready=${ready?.status ?? '-'}  ip=${a?.networkIP ?? '-'}  external=${a?.externalIP ?? '-'}`,
      );
      if (ready?.status !== 'True') {
        const why = [c(i, 'Programmed'), c(i, second), ready].find((x) => x && x.status !== 'True');
        if (why) lines.push(`      not ready: ${why.type} ${why.reason}: ${why.message}`);
      }
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : 'No Instances.\n';
}

const START_HINT = '`make run` starts the local environment (its kubeconfig: .datum-local/kubeconfig)';
// Codes that mean nothing listens at the address (as opposed to TLS or protocol trouble).
const NOT_ANSWERING = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

/**
 * What went wrong talking to the cluster, as one line that says what to do; undefined for anything
 * unexpected (a bug: let its stack trace show).
 */
export function explainStatusError(err: unknown, server: string, from: string): string | undefined {
  if (err instanceof TransportError) {
    const code = err.code ?? '';
    return NOT_ANSWERING.has(code) || code.startsWith('UND_ERR_CONNECT')
      ? `the API server at ${server} (from ${from}) is not answering (${code}); is the control plane running? ${START_HINT}`
      : `cannot reach the API server at ${server} (from ${from}): ${err.message}`;
  }
  if (err instanceof ExecCredentialError)
    return `cannot authenticate to ${server} (from ${from}): ${err.message}`;
  if (err instanceof ApiError && (err.status === 401 || err.status === 403))
    return `the API server at ${server} refused the credentials in ${from} (${err.status} ${err.reason})`;
  if (err instanceof ApiError && err.status === 404)
    return `the API server at ${server} (from ${from}) has no Datum Instance or Workload resources: the Datum CRDs are not installed there`;
  return undefined;
}

export async function statusCommand(kubeconfig?: string, context?: string): Promise<number> {
  const fail = (line: string) => {
    process.stderr.write(`error: ${line}\n`);
    return 1;
  };
  let config: ClusterConfig;
  try {
    config = resolveClusterConfig(kubeconfig, context);
  } catch (err) {
    if (!(err instanceof KubeconfigError)) throw err;
    return fail(`${err.message}; ${START_HINT}`);
  }
  const from =
    kubeconfig ??
    (process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG && !context
      ? 'the in-cluster service account'
      : defaultKubeconfigPath());
  // A person is waiting: two attempts, not the controllers' five with backoff.
  const client = createClient(config, { maxAttempts: 2, timeoutMs: 15_000 });
  try {
    const [instances, workloads] = await Promise.all([
      client.list<Instance>(INSTANCE),
      // A cell (cell generation) has no Workload resource: its Instances are grouped by deployment instead.
      client
        .list<Workload>(WORKLOAD)
        .catch((err) =>
          err instanceof ApiError && err.status === 404 ? { items: [] } : Promise.reject(err),
        ),
    ]);
    process.stdout.write(formatStatus(instances.items, workloads.items));
    return 0;
  } catch (err) {
    const why = explainStatusError(err, config.server, from);
    if (why === undefined) throw err;
    return fail(why);
  } finally {
    await client.close();
  }
}
