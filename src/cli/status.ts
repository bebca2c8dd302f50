/** `datum-provider status`: every Instance with its conditions, grouped by Workload, and why it is not ready. */

import { INSTANCE, WORKLOAD } from '../datum/api/resources.ts';
import type { Instance, Workload } from '../datum/api/types.ts';
import { createClient } from '../runtime/client/client.ts';
import { resolveClusterConfig } from '../runtime/client/config.ts';
import type { Condition } from '../runtime/client/types.ts';

const WORKLOAD_UID = 'compute.datumapis.com/workload-uid';

export function formatStatus(instances: Instance[], workloads: Workload[]): string {
  const byUid = new Map(workloads.map((w) => [w.metadata.uid, `${w.metadata.namespace}/${w.metadata.name}`]));
  const groups = new Map<string, Instance[]>();
  for (const i of instances) {
    const key = byUid.get(i.metadata.labels?.[WORKLOAD_UID] ?? '') ?? '(no workload)';
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  const c = (i: Instance, t: string) =>
    (i.status?.conditions as Condition[] | undefined)?.find((x) => x.type === t);
  const lines: string[] = [];
  for (const [w, list] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`Workload ${w}`);
    for (const i of list.sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!))) {
      const ready = c(i, 'Ready');
      const a = i.status?.networkInterfaces?.[0]?.assignments;
      const loc = i.spec?.location ? `${i.spec.location.namespace}/${i.spec.location.name}` : '-';
      lines.push(
        `  ${i.metadata.namespace}/${i.metadata.name}  location=${loc}  Programmed=${c(i, 'Programmed')?.status ?? '-'}  Running=${c(i, 'Running')?.status ?? '-'}  Ready=${ready?.status ?? '-'}  ip=${a?.networkIP ?? '-'}  external=${a?.externalIP ?? '-'}`,
      );
      if (ready?.status !== 'True') {
        const why = [c(i, 'Programmed'), c(i, 'Running'), ready].find((x) => x && x.status !== 'True');
        if (why) lines.push(`      not ready: ${why.type} ${why.reason}: ${why.message}`);
      }
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : 'No Instances.\n';
}

export async function statusCommand(kubeconfig?: string): Promise<number> {
  const client = createClient(resolveClusterConfig(kubeconfig));
  try {
    const [instances, workloads] = await Promise.all([
      client.list<Instance>(INSTANCE),
      client.list<Workload>(WORKLOAD),
    ]);
    process.stdout.write(formatStatus(instances.items, workloads.items));
    return 0;
  } finally {
    await client.close();
  }
}
