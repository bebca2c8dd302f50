/**
 * Drives Instances of one namespace through a test: create (with annotations), wait for a Programmed
 * condition, for Running, for deletion, and ask `datum-provider plan`'s logic what it would do. The controls
 * tests of every backend (adopt, ObserveOnly, plan) are written with it.
 */
import { INSTANCE } from '../../datum/api/resources.ts';
import type { Instance } from '../../datum/api/types.ts';
import type { Backend } from '../../datum/backend.ts';
import { planInstances } from '../../datum/plan.ts';
import type { ProviderSettings } from '../../datum/settings.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { isNotFound } from '../../runtime/client/errors.ts';
import type { Condition } from '../../runtime/client/types.ts';
import type { Logger } from '../../runtime/log/logger.ts';
import { type InstanceFixture, instanceObject } from './fixtures.ts';
import { condOf, eventually } from './wait.ts';

export interface InstanceDriverOptions {
  client(): HttpClient;
  namespace: string;
  /** The Location the Instances go to (a function: it may be seeded after the driver is made). */
  location(): { name: string; namespace: string };
  /** Fixture fields every created Instance gets (runtime, image, network policy…). */
  fixture?: Partial<InstanceFixture>;
  /** What `plan` needs: the provider's settings, backend and a logger (the home cluster is `client`). */
  planWith?(): { settings: ProviderSettings; backend: Backend; log: Logger };
}

export interface InstanceDriver {
  create(
    name: string,
    annotations?: Record<string, string>,
    fixture?: Partial<InstanceFixture>,
  ): Promise<Instance>;
  get(name: string): Promise<Instance>;
  /** Waits for Programmed with this status (and reason, when given); returns the condition. */
  programmed(name: string, status: string, reason?: string): Promise<Condition>;
  running(name: string): Promise<void>;
  /** Deletes the Instance and waits until it is gone (finalizer removed). */
  deleted(name: string): Promise<void>;
  /** What the provider would do for the Instance, read-only. */
  plan(name: string): Promise<{ action: string; details: string[] }>;
}

export function instanceDriver(o: InstanceDriverOptions): InstanceDriver {
  const ns = o.namespace;
  const get = (name: string) => o.client().get<Instance>(INSTANCE, name, ns);
  return {
    get,
    create(name, annotations = {}, fixture = {}) {
      const obj = instanceObject({ name, namespace: ns, location: o.location(), ...o.fixture, ...fixture });
      obj.metadata.annotations = { ...obj.metadata.annotations, ...annotations };
      return o.client().create<Instance>(INSTANCE, obj);
    },
    programmed: (name, status, reason) =>
      eventually(
        async () => {
          const c = condOf(await get(name), 'Programmed');
          return c?.status === status && (!reason || c.reason === reason) ? c : undefined;
        },
        `${name} Programmed=${status} ${reason ?? ''}`,
      ),
    async running(name) {
      await eventually(async () => condOf(await get(name), 'Running')?.status === 'True', `${name} Running`);
    },
    async deleted(name) {
      await o.client().delete(INSTANCE, name, ns);
      await eventually(
        () =>
          get(name).then(
            () => false,
            (e) => isNotFound(e),
          ),
        `${name} deleted`,
      );
    },
    async plan(name) {
      if (!o.planWith) throw new Error('instanceDriver: plan needs planWith');
      const [line] = await planInstances({
        client: o.client(),
        home: o.client(),
        ...o.planWith(),
        namespace: ns,
        name,
      });
      return { action: line!.action, details: line!.details };
    },
  };
}
