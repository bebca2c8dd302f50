/**
 * Ordered, awaited deletion: every Instance, the Subnet and the NetworkContext are deleted at once, and the
 * order in which things disappear is observed while the provider tears them down. A sampler reads, over and
 * over, whether each API object and each backend resource still exists, giving every read a sequence number.
 * Deletion is monotonic (nothing comes back), so "B was read absent, and A was read present at a later read"
 * proves that B went while A still existed. Checked for every pair the contract orders:
 *   backend instance → backend subnet → backend network, and each backend resource → its API object
 *   (a finalizer comes off only after the backend said its resource is gone).
 * Each round reads the later-to-go of every pair first, so a violation lasting one round is caught.
 */
import assert from 'node:assert/strict';
import { INSTANCE, NETWORK_CONTEXT, SUBNET } from '../../datum/api/resources.ts';
import type { ManagedKind } from '../../datum/backend.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { isNotFound } from '../../runtime/client/errors.ts';
import type { KubeObject, ResourceType } from '../../runtime/client/types.ts';
import type { ContractHandle } from './suite.ts';
import { eventually } from './wait.ts';

interface Probe {
  key: string;
  present(): Promise<boolean>;
}

class Sampler {
  private seq = 0;
  readonly lastPresent = new Map<string, number>();
  readonly firstAbsent = new Map<string, number>();
  readonly probes: Probe[];
  constructor(probes: Probe[]) {
    this.probes = probes;
  }

  async round(): Promise<void> {
    for (const p of this.probes) {
      const s = ++this.seq;
      if (await p.present()) this.lastPresent.set(p.key, s);
      else if (!this.firstAbsent.has(p.key)) this.firstAbsent.set(p.key, s);
    }
  }

  allGone(): boolean {
    return this.probes.every((p) => this.firstAbsent.has(p.key));
  }

  /** Was `first` read present only before `then` was first read absent? */
  wentBefore(first: string, then: string): boolean {
    return (this.lastPresent.get(first) ?? 0) < (this.firstAbsent.get(then) ?? Number.POSITIVE_INFINITY);
  }

  describe(): string {
    return this.probes
      .map(
        (p) => `${p.key}: last present #${this.lastPresent.get(p.key)}, gone #${this.firstAbsent.get(p.key)}`,
      )
      .join('\n');
  }
}

export async function deletionOrderTest(o: {
  client: HttpClient;
  handle: ContractHandle;
  ns: string;
  instances: string[];
  context: string;
  subnet: string;
}): Promise<void> {
  const { client, handle, ns } = o;
  const getObj = (r: ResourceType, name: string) =>
    client.get(r, name, ns).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
  const api = (r: ResourceType, name: string): Probe => ({
    key: `${r.kind} ${name}`,
    present: async () => !!(await getObj(r, name)),
  });
  const backend = (kind: ManagedKind, obj: KubeObject): Probe => ({
    key: `backend ${kind} of ${obj.metadata.name}`,
    present: async () => (await handle.owned(obj.metadata.uid!)).some((r) => r.kind === kind),
  });

  const ctx = await getObj(NETWORK_CONTEXT, o.context);
  const sub = await getObj(SUBNET, o.subnet);
  assert.ok(ctx && sub, `NetworkContext ${o.context} and Subnet ${o.subnet} exist before the deletes`);
  const instances = (await Promise.all(o.instances.map((n) => getObj(INSTANCE, n)))).filter(
    (i): i is KubeObject => !!i,
  );
  const withBackend: KubeObject[] = [];
  for (const i of instances)
    if ((await handle.owned(i.metadata.uid!)).some((r) => r.kind === 'instance')) withBackend.push(i);
  assert.ok(
    withBackend.length >= 2,
    `at least two of ${o.instances.join(', ')} have a backend instance to delete; found ${withBackend.length}`,
  );

  // Read order: the later-to-go of each pair first.
  const sampler = new Sampler([
    api(NETWORK_CONTEXT, o.context),
    backend('network', ctx),
    api(SUBNET, o.subnet),
    backend('subnet', sub),
    ...instances.flatMap((i) => [
      api(INSTANCE, i.metadata.name!),
      ...(withBackend.includes(i) ? [backend('instance', i)] : []),
    ]),
  ]);
  await sampler.round();
  assert.deepEqual([...sampler.firstAbsent.keys()], [], 'everything exists before the deletes');

  let stop = false;
  const sampling = (async () => {
    while (!stop) await sampler.round();
  })();
  try {
    await Promise.all([
      ...instances.map((i) => client.delete(INSTANCE, i.metadata.name!, ns)),
      client.delete(SUBNET, o.subnet, ns),
      client.delete(NETWORK_CONTEXT, o.context, ns),
    ]);
    await eventually(
      async () => sampler.allGone(),
      'every object and backend resource gone',
      180_000,
      () =>
        `still present: ${sampler.probes
          .filter((p) => !sampler.firstAbsent.has(p.key))
          .map((p) => p.key)
          .join(', ')}`,
    );
  } finally {
    stop = true;
    await sampling;
  }

  const timeline = `\n${sampler.describe()}`;
  const before = (a: string, b: string, what: string) =>
    assert.ok(sampler.wentBefore(a, b), `${what}: ${a} must be gone before ${b}${timeline}`);
  for (const p of sampler.probes) before(p.key, p.key, 'nothing comes back');
  for (const i of withBackend) {
    const name = i.metadata.name!;
    before(`backend instance of ${name}`, `backend subnet of ${o.subnet}`, 'instance before subnet');
    before(`backend instance of ${name}`, `Instance ${name}`, 'finalizer after the backend');
  }
  before(`backend subnet of ${o.subnet}`, `backend network of ${o.context}`, 'subnet before network');
  before(`backend subnet of ${o.subnet}`, `Subnet ${o.subnet}`, 'finalizer after the backend');
  before(`backend network of ${o.context}`, `NetworkContext ${o.context}`, 'finalizer after the backend');
}
