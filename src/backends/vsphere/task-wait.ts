/**
 * Awaiting a vSphere Task the way vCenter wants it awaited, instead of polling it: a PropertyCollector of our
 * own (concurrent waits in one session would cancel each other's WaitForUpdatesEx on a shared one) with a
 * filter on the Task's `info.state`, `info.error` and `info.result`; WaitForUpdatesEx calls chained by the
 * version each answer carries, each bounded by `maxWaitSeconds` (under the transport's request timeout);
 * the collector destroyed afterwards, which destroys its filter (and ends a wait still open server-side).
 * A request per state change, not per poll. Polling remains the fallback: for a server without these methods
 * (NotSupported), and when the collector is lost with its session (a re-login mid-wait).
 */
import { ManagedObjectNotFound, NotSupported, TaskFailed, vimFault } from './faults.ts';
import type { VimClient } from './vim.ts';
import { arr, el, type MoRef, moRef, moRefXml, type Node, text, xsiType } from './xml.ts';

/** Each WaitForUpdatesEx returns after this long without news (the transport's request timeout is 60 s). */
export const MAX_WAIT_SECONDS = 30;

/** A task's `info` (or the same fields from an update) → its result when it ended; undefined while it runs. */
export function taskOutcome(info: Node, op: string): { result: Node } | undefined {
  const state = text(info?.state);
  if (state === 'success') return { result: info?.result };
  if (state !== 'error') return undefined;
  const fault = info?.error?.fault;
  const type = xsiType(fault);
  const msg = text(info?.error?.localizedMessage) ?? '';
  if (type) throw vimFault(type, op, msg);
  throw new TaskFailed(`${op}: task failed${msg ? `: ${msg}` : ''}`);
}

export function taskTimeout(op: string, task: MoRef): TaskFailed {
  return new TaskFailed(
    `${op}: task ${task.value} still running when the wait timed out; it goes on in vCenter`,
  );
}

const FILTER_PATHS = ['info.state', 'info.error', 'info.result'];

export async function awaitTask(
  vim: VimClient,
  task: MoRef,
  op: string,
  o: { signal?: AbortSignal; timeoutMs: number; maxWaitSeconds?: number },
): Promise<Node> {
  const deadline = Date.now() + o.timeoutMs;
  const { signal } = o;
  const sc = await vim.serviceContent(signal);
  let collector: MoRef | undefined;
  try {
    try {
      collector = moRef(
        await vim.invoke('CreatePropertyCollector', sc.propertyCollector, '', { signal, idempotent: false }),
      );
    } catch (err) {
      if (err instanceof NotSupported) return vim.pollTask(task, op, deadline, signal);
      throw err;
    }
    if (!collector) return vim.pollTask(task, op, deadline, signal);
    const spec =
      `<spec><propSet><type>Task</type><all>false</all>${FILTER_PATHS.map((p) => el('pathSet', p)).join('')}` +
      `</propSet><objectSet>${moRefXml('obj', task)}<skip>false</skip></objectSet></spec>`;
    const info: Record<string, Node> = {};
    let version = '';
    try {
      await vim.invoke('CreateFilter', collector, `${spec}${el('partialUpdates', false)}`, {
        signal,
        idempotent: false,
      });
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) throw taskTimeout(op, task);
        const wait = Math.max(1, Math.min(o.maxWaitSeconds ?? MAX_WAIT_SECONDS, Math.ceil(left / 1000)));
        const r = await vim.invoke(
          'WaitForUpdatesEx',
          collector,
          `${el('version', version)}<options>${el('maxWaitSeconds', wait)}</options>`,
          { signal, idempotent: true },
        );
        // No answer: maxWaitSeconds passed without a change; wait again from the same version.
        if (!r) continue;
        version = text(r.version) ?? version;
        for (const fu of arr(r.filterSet))
          for (const ou of arr(fu.objectSet)) {
            if (text(ou.kind) === 'leave')
              throw new TaskFailed(`${op}: task ${task.value} vanished (vCenter restarted?)`);
            for (const c of arr(ou.changeSet)) info[String(text(c.name)).replace(/^info\./, '')] = c.val;
          }
        const done = taskOutcome(info, op);
        if (done) return done.result;
      }
    } catch (err) {
      // The collector went with a session that ended (and was logged in again): poll for the rest.
      if (err instanceof ManagedObjectNotFound && err.op !== op)
        return vim.pollTask(task, op, deadline, signal);
      if (err instanceof NotSupported) return vim.pollTask(task, op, deadline, signal);
      throw err;
    }
  } finally {
    // Not with the caller's signal: an aborted wait still cleans up. Best effort, so not retried (a server
    // that is down has lost the collector anyway).
    if (collector)
      await vim.invoke('DestroyPropertyCollector', collector, '', { idempotent: false }).catch(() => {});
  }
}
