/**
 * Waiting in the contract suite, failing fast and saying why. `waitForObject` polls one API object until a
 * predicate holds; if the object meanwhile carries a condition that can never turn into what is awaited (a
 * False condition with a terminal reason for the object's current generation), it fails at once with the
 * object, the condition and the provider's last log lines about the object. On timeout the error names what
 * was awaited and the object's current conditions. `eventually` is the same for things that are not API
 * objects (backend state, the sweeper): its timeout names the last value or error seen.
 */
import type { Backend, ResourceOwner } from '../../datum/backend.ts';
import { BackendError } from '../../datum/backend.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { isNotFound } from '../../runtime/client/errors.ts';
import type { Condition, KubeObject, ResourceType } from '../../runtime/client/types.ts';

export const DEFAULT_WAIT_MS = 60_000;

/**
 * Condition reasons that mean "the provider refused and waits for the spec to change": no retry will turn them
 * into success (classic and cell reasons, and the BackendError reasons that are not retryable by default).
 */
export const TERMINAL_REASONS: ReadonlySet<string> = new Set([
  'UnsupportedRuntime',
  'UnknownInstanceType',
  'UnsupportedVolume',
  'UnknownImage',
  'InvalidImage',
  'InvalidConfiguration',
  'UnsupportedFeature',
  'Unsupported',
  'CredentialsInvalid',
  'QuotaExceeded',
  'ConfigurationError',
]);

/** Non-retryable failures a backend threw, by the upstream object they were for (see `observedBackend`). */
export class FailureLedger {
  private readonly failures = new Map<string, { reason: string; message: string }>();

  private static key(kind: string, namespace: string | undefined, name: string): string {
    return `${kind}/${namespace ?? ''}/${name}`;
  }

  record(owner: ResourceOwner, err: BackendError): void {
    this.failures.set(FailureLedger.key(owner.kind, owner.namespace, owner.name), {
      reason: err.reason,
      message: err.message,
    });
  }

  /** A later success for the same object makes an earlier failure history. */
  clear(owner: ResourceOwner): void {
    this.failures.delete(FailureLedger.key(owner.kind, owner.namespace, owner.name));
  }

  lookup(kind: string, namespace: string | undefined, name: string) {
    return this.failures.get(FailureLedger.key(kind, namespace, name));
  }
}

const ENSURES = new Set(['ensureNetwork', 'ensureSubnet', 'ensureInstance']);

/** The instance id each instance call is about (`desired.id`, or the id argument). */
const INSTANCE_CALLS: Record<string, (args: unknown[]) => string | undefined> = {
  ensureInstance: (a) => (a[1] as { id?: string } | undefined)?.id,
  adoptInstance: (a) => (a[2] as { id?: string } | undefined)?.id,
  observeInstance: (a) => (a[1] as { id?: string } | undefined)?.id,
  deleteInstance: (a) => a[1] as string,
  release: (a) => (a[1] === 'instance' ? (a[2] as string) : undefined),
};

/** The instance calls the provider made, by instance id (e.g. to prove ObserveOnly never writes). */
export class InstanceCalls {
  private readonly calls = new Map<string, string[]>();
  record(op: string, id: string | undefined): void {
    if (id) this.calls.set(id, [...(this.calls.get(id) ?? []), op]);
  }
  of(id: string): readonly string[] {
    return this.calls.get(id) ?? [];
  }
}

/**
 * The backend as the provider under test sees it, with every non-retryable `BackendError` an ensure call
 * throws written to `ledger` (so a wait knows a reason the backend itself declared final), and every instance
 * call written to `calls`, if given.
 */
export function observedBackend(backend: Backend, ledger: FailureLedger, calls?: InstanceCalls): Backend {
  return new Proxy(backend, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const idOf = typeof prop === 'string' && calls ? INSTANCE_CALLS[prop] : undefined;
      if (typeof prop !== 'string' || !ENSURES.has(prop))
        return idOf
          ? (...args: unknown[]) => {
              calls!.record(prop as string, idOf(args));
              return value.apply(target, args);
            }
          : value.bind(target);
      return async (ctx: unknown, desired: { owner: ResourceOwner }) => {
        if (idOf) calls!.record(prop, idOf([ctx, desired]));
        try {
          const observed = await value.call(target, ctx, desired);
          ledger.clear(desired.owner);
          return observed;
        } catch (err) {
          if (err instanceof BackendError && !err.retryable) ledger.record(desired.owner, err);
          throw err;
        }
      };
    },
  });
}

/** What a wait can consult to explain itself. */
export interface WaitContext {
  /** The provider's log lines (the last ones naming the object go into failure messages). */
  logs?: readonly string[];
  ledger?: FailureLedger;
}

export class SuiteWaitError extends Error {
  override readonly name = 'SuiteWaitError';
  /** True when the wait ended on a terminal condition (not a timeout). */
  readonly terminal: boolean;
  constructor(message: string, terminal: boolean) {
    super(message);
    this.terminal = terminal;
  }
}

export const conditionsOf = (o: KubeObject | undefined): Condition[] =>
  (o?.status?.conditions as Condition[] | undefined) ?? [];

export const condOf = (o: KubeObject | undefined, type: string): Condition | undefined =>
  conditionsOf(o).find((c) => c.type === type);

export function describeConditions(o: KubeObject | undefined): string {
  if (!o) return '(object not found)';
  const cs = conditionsOf(o);
  if (cs.length === 0) return '(no conditions)';
  return cs
    .map(
      (c) =>
        `${c.type}=${c.status} reason ${c.reason}: ${JSON.stringify(c.message)}` +
        (c.observedGeneration !== undefined && c.observedGeneration !== o.metadata.generation
          ? ` (observedGeneration ${c.observedGeneration}, generation ${o.metadata.generation})`
          : ''),
    )
    .join('; ');
}

/** The provider's last log lines that name `name` (JSON logs quote it), errors first-class. */
export function relatedLogs(logs: readonly string[] | undefined, name: string, count = 10): string {
  if (!logs || logs.length === 0) return '  (no provider log lines captured)';
  const quoted = JSON.stringify(name);
  const lines = logs.filter((l) => l.includes(quoted)).slice(-count);
  return lines.length ? lines.map((l) => `  ${l}`).join('\n') : `  (no provider log line names ${name})`;
}

/** A False condition that will not change by itself, or undefined. */
export function terminalCondition(
  o: KubeObject,
  types: readonly string[],
  ledger?: FailureLedger,
): { condition: Condition; why: string } | undefined {
  for (const c of conditionsOf(o)) {
    if (!types.includes(c.type) || c.status !== 'False') continue;
    // A verdict on an older spec says nothing about the current one.
    if (c.observedGeneration !== undefined && c.observedGeneration !== o.metadata.generation) continue;
    const declared = ledger?.lookup(o.kind ?? '', o.metadata.namespace, o.metadata.name!);
    if (declared && declared.reason === c.reason)
      return { condition: c, why: 'the backend marked this failure non-retryable' };
    if (TERMINAL_REASONS.has(c.reason))
      return { condition: c, why: 'the provider does not retry this reason' };
  }
  return undefined;
}

export interface ObjectWait<T extends KubeObject> {
  client: HttpClient;
  resource: ResourceType;
  name: string;
  namespace?: string;
  /** What is awaited, for messages: e.g. "Programmed=True and Running=True". */
  want: string;
  until(obj: T | undefined): boolean;
  /** Condition types whose terminal False ends the wait at once (default Programmed). */
  failFastOn?: readonly string[];
  timeoutMs?: number;
}

/** Polls `name` until `until` holds; fails fast on a terminal condition, and explains a timeout. */
export async function waitForObject<T extends KubeObject>(ctx: WaitContext, w: ObjectWait<T>): Promise<T> {
  const timeoutMs = w.timeoutMs ?? DEFAULT_WAIT_MS;
  const deadline = Date.now() + timeoutMs;
  const what = `${w.resource.kind} ${w.namespace ? `${w.namespace}/` : ''}${w.name}`;
  const failFastOn = w.failFastOn ?? ['Programmed'];
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await w.client
        .get<T>(w.resource, w.name, w.namespace)
        .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
      lastError = undefined;
      if (w.until(last)) return last as T;
      const terminal = last && terminalCondition(last, failFastOn, ctx.ledger);
      if (terminal) {
        const c = terminal.condition;
        throw new SuiteWaitError(
          `${what}: waited for ${w.want}, but ${c.type}=${c.status} with reason ${c.reason} ` +
            `(${terminal.why}): ${JSON.stringify(c.message)}\n` +
            `  all conditions: ${describeConditions(last)}\n` +
            `  provider log lines about ${w.name}:\n${relatedLogs(ctx.logs, w.name)}`,
          true,
        );
      }
    } catch (err) {
      if (err instanceof SuiteWaitError) throw err;
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new SuiteWaitError(
        `${what}: timed out after ${timeoutMs} ms waiting for ${w.want}\n` +
          `  current conditions: ${describeConditions(last)}` +
          (last?.metadata.finalizers?.length ? `; finalizers ${last.metadata.finalizers.join(', ')}` : '') +
          (lastError ? `\n  last error reading it: ${lastError}` : '') +
          `\n  provider log lines about ${w.name}:\n${relatedLogs(ctx.logs, w.name)}`,
        false,
      );
    await sleep(150);
  }
}

/** Waits until the condition `type` has `status` (and `reason`, if given). */
export function waitForCondition<T extends KubeObject>(
  ctx: WaitContext,
  w: Omit<ObjectWait<T>, 'until' | 'want'> & {
    conditions: Record<string, 'True' | 'False'>;
    reason?: { type: string; reason: string };
  },
): Promise<T> {
  const entries = Object.entries(w.conditions);
  const want =
    entries.map(([t, s]) => `${t}=${s}`).join(' and ') +
    (w.reason ? ` with ${w.reason.type} reason ${w.reason.reason}` : '');
  return waitForObject<T>(ctx, {
    ...w,
    want,
    until: (o) =>
      !!o &&
      entries.every(([t, s]) => conditionsOf(o).find((c) => c.type === t)?.status === s) &&
      (!w.reason || conditionsOf(o).find((c) => c.type === w.reason!.type)?.reason === w.reason.reason),
  });
}

/** Waits until the object is gone (deleted and its finalizers removed). */
export async function waitForGone(
  ctx: WaitContext,
  w: Omit<ObjectWait<KubeObject>, 'until' | 'want' | 'failFastOn'>,
): Promise<void> {
  await waitForObject(ctx, { ...w, want: 'the object to be gone', until: (o) => !o, failFastOn: [] });
}

/**
 * Polls `fn` until it returns a truthy value. On timeout the error names `what`, the last value `fn` returned
 * (through `describe`, when given) and the last error it threw.
 */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  what: string,
  ms = DEFAULT_WAIT_MS,
  describe?: () => string | Promise<string>,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const state = describe
        ? await Promise.resolve(describe()).catch((e) => `(could not describe: ${e})`)
        : '';
      throw new SuiteWaitError(
        `timed out after ${ms} ms waiting for ${what}${state ? `; state: ${state}` : ''}` +
          `${last ? `; last error: ${last}` : ''}`,
        false,
      );
    }
    await sleep(150);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
