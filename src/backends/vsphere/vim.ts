/**
 * A small typed vim25 client for the calls this backend makes: session (Login with re-login once on
 * NotAuthenticated, Logout on close), property retrieval (objects or a container view), inventory lookup,
 * tasks awaited to completion, custom attributes. Written on `SoapTransport`; no vSphere SDK.
 */
import { InvalidArgument, NotAuthenticated, TaskFailed, VimError, vimFault } from './faults.ts';
import { awaitTask, taskOutcome, taskTimeout } from './task-wait.ts';
import type { SoapTransport } from './transport.ts';
import { arr, el, type MoRef, moRef, moRefXml, type Node, text, xsiType } from './xml.ts';

export interface VimCredentials {
  username: string;
  password: string;
}

export interface VimOptions {
  /** How tasks are awaited: PropertyCollector updates (default) or polling (the fallback, and for tests). */
  taskWait?: 'updates' | 'poll';
  /** How long a task may run before its wait gives up with a retryable error (default 30 min). */
  taskTimeoutMs?: number;
}

export interface ServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  viewManager: MoRef;
  sessionManager: MoRef;
  searchIndex: MoRef;
  customFieldsManager: MoRef;
}

export interface ObjectProps {
  obj: MoRef;
  props: Record<string, Node>;
}

const SERVICE_INSTANCE: MoRef = { type: 'ServiceInstance', value: 'ServiceInstance' };

export class VimClient {
  readonly transport: SoapTransport;
  private readonly creds: VimCredentials;
  private content: ServiceContent | undefined;
  private session: Promise<void> | undefined;
  private fieldKeys = new Map<string, Promise<number>>();
  private known = new Map<string, number>();
  readonly options: VimOptions;
  /**
   * Counts sessions lost and logged in again. A lost session can mean vCenter restarted (a simulator then
   * lost its inventory too), so what was cached about the server (custom field keys here, placement in the
   * backend) is looked up again when it changes.
   */
  epoch = 0;

  constructor(transport: SoapTransport, creds: VimCredentials, options: VimOptions = {}) {
    this.transport = transport;
    this.creds = creds;
    this.options = options;
  }

  async serviceContent(signal?: AbortSignal): Promise<ServiceContent> {
    if (this.content) return this.content;
    const r = await this.transport.call('RetrieveServiceContent', moRefXml('_this', SERVICE_INSTANCE), {
      signal,
      idempotent: true,
    });
    const ref = (k: string) => {
      const m = moRef(r?.[k]);
      if (!m) throw vimFault('InvalidArgument', 'RetrieveServiceContent', `no ${k} in the service content`);
      return m;
    };
    this.content = {
      rootFolder: ref('rootFolder'),
      propertyCollector: ref('propertyCollector'),
      viewManager: ref('viewManager'),
      sessionManager: ref('sessionManager'),
      searchIndex: ref('searchIndex'),
      customFieldsManager: ref('customFieldsManager'),
    };
    return this.content;
  }

  /** Logs in once; concurrent callers share the login. */
  private login(signal?: AbortSignal): Promise<void> {
    this.session ??= (async () => {
      const sc = await this.serviceContent(signal);
      this.transport.cookie = undefined;
      await this.transport.call(
        'Login',
        moRefXml('_this', sc.sessionManager) +
          el('userName', this.creds.username) +
          el('password', this.creds.password),
        { signal, idempotent: true },
      );
    })().catch((err) => {
      this.session = undefined;
      throw err;
    });
    return this.session;
  }

  /**
   * Calls `op` on `self` within the session. A NotAuthenticated answer (session expired or terminated) means
   * the server did nothing: log in again once and repeat the call.
   */
  async invoke(
    op: string,
    self: MoRef,
    body: string,
    opts: { signal?: AbortSignal; idempotent: boolean },
  ): Promise<Node> {
    await this.login(opts.signal);
    const used = this.session;
    const send = () => this.transport.call(op, moRefXml('_this', self) + body, opts);
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof NotAuthenticated)) throw err;
      // Only the first caller to see the expiry of this session logs in again; the others share its login.
      if (this.session === used) {
        this.session = undefined;
        this.epoch++;
        this.fieldKeys = new Map();
        this.known = new Map();
      }
      await this.login(opts.signal);
      return send();
    }
  }

  /** Ends the session server-side (best effort). */
  async logout(): Promise<void> {
    if (!this.session) return;
    try {
      await this.session;
      const sc = await this.serviceContent();
      await this.transport.call('Logout', moRefXml('_this', sc.sessionManager), { idempotent: false });
    } catch {
      // Already gone or unreachable: nothing to end.
    } finally {
      this.session = undefined;
      this.transport.cookie = undefined;
    }
  }

  /** The current session's key (for tests that terminate it from another session). */
  async sessionKey(signal?: AbortSignal): Promise<string | undefined> {
    const sc = await this.serviceContent(signal);
    const [o] = await this.retrieve([sc.sessionManager], ['currentSession'], signal);
    return text(o?.props.currentSession?.key);
  }

  /** Properties of the given objects; objects that no longer exist are left out. */
  async retrieve(objs: MoRef[], paths: string[], signal?: AbortSignal): Promise<ObjectProps[]> {
    if (objs.length === 0) return [];
    const types = [...new Set(objs.map((o) => o.type))];
    const spec =
      types.map((t) => propSpec(t, paths)).join('') +
      objs.map((o) => `<objectSet>${moRefXml('obj', o)}<skip>false</skip></objectSet>`).join('');
    return this.retrieveSpec(spec, signal);
  }

  /** Every object of `types` under the root folder, through a container view (destroyed afterwards). */
  async list(types: string[], paths: string[], signal?: AbortSignal): Promise<ObjectProps[]> {
    const sc = await this.serviceContent(signal);
    const view = moRef(
      await this.invoke(
        'CreateContainerView',
        sc.viewManager,
        moRefXml('container', sc.rootFolder) +
          types.map((t) => el('type', t)).join('') +
          el('recursive', true),
        { signal, idempotent: true },
      ),
    );
    if (!view) throw vimFault('InvalidArgument', 'CreateContainerView', 'no view returned');
    try {
      const spec =
        types.map((t) => propSpec(t, paths)).join('') +
        `<objectSet>${moRefXml('obj', view)}<skip>true</skip>` +
        '<selectSet xsi:type="TraversalSpec"><name>view</name><type>ContainerView</type><path>view</path>' +
        '<skip>false</skip></selectSet></objectSet>';
      return await this.retrieveSpec(spec, signal);
    } finally {
      await this.invoke('DestroyView', view, '', { idempotent: true }).catch(() => {});
    }
  }

  private async retrieveSpec(spec: string, signal?: AbortSignal): Promise<ObjectProps[]> {
    const sc = await this.serviceContent(signal);
    const out: ObjectProps[] = [];
    let r = await this.invoke(
      'RetrievePropertiesEx',
      sc.propertyCollector,
      `<specSet>${spec}</specSet><options></options>`,
      { signal, idempotent: true },
    );
    for (;;) {
      for (const o of arr(r?.objects)) {
        const obj = moRef(o.obj);
        if (!obj) continue;
        // A deleted object comes back with its properties in missingSet: treat it as absent.
        if (arr(o.missingSet).some((m: Node) => xsiType(m.fault) === 'ManagedObjectNotFound')) continue;
        const props: Record<string, Node> = {};
        for (const p of arr(o.propSet)) props[String(p.name)] = p.val;
        out.push({ obj, props });
      }
      const token = text(r?.token);
      if (!token) return out;
      r = await this.invoke('ContinueRetrievePropertiesEx', sc.propertyCollector, el('token', token), {
        signal,
        idempotent: true,
      });
    }
  }

  async findByInventoryPath(path: string, signal?: AbortSignal): Promise<MoRef | undefined> {
    const sc = await this.serviceContent(signal);
    return moRef(
      await this.invoke('FindByInventoryPath', sc.searchIndex, el('inventoryPath', path), {
        signal,
        idempotent: true,
      }),
    );
  }

  /** Starts a task-returning operation (never retried by the transport) and returns the Task. */
  async startTask(op: string, self: MoRef, body: string, signal?: AbortSignal): Promise<MoRef> {
    const task = moRef(await this.invoke(op, self, body, { signal, idempotent: false }));
    if (!task) throw vimFault('InvalidArgument', op, 'no task returned');
    return task;
  }

  /**
   * Awaits the task: its `info.result` on success, its typed fault on error. Through PropertyCollector
   * updates (task-wait.ts) unless polling is asked for.
   */
  waitForTask(task: MoRef, op: string, signal?: AbortSignal): Promise<Node> {
    const timeoutMs = this.options.taskTimeoutMs ?? 30 * 60_000;
    if (this.options.taskWait === 'poll') return this.pollTask(task, op, Date.now() + timeoutMs, signal);
    return awaitTask(this, task, op, { signal, timeoutMs });
  }

  /** Polls the task (backing off to 1 s) until it ends or `deadline` passes. */
  async pollTask(task: MoRef, op: string, deadline: number, signal?: AbortSignal): Promise<Node> {
    let delay = 100;
    for (;;) {
      const [o] = await this.retrieve([task], ['info'], signal);
      const done = taskOutcome(o?.props.info, op);
      if (done) return done.result;
      if (!o) throw new TaskFailed(`${op}: task ${task.value} vanished (vCenter restarted?)`);
      if (Date.now() + delay > deadline) throw taskTimeout(op, task);
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 1_000);
    }
  }

  async runTask(op: string, self: MoRef, body: string, signal?: AbortSignal): Promise<Node> {
    return this.waitForTask(await this.startTask(op, self, body, signal), op, signal);
  }

  /** The key of a global custom attribute, defined on first use (and found if another process defined it). */
  fieldKey(name: string, signal?: AbortSignal): Promise<number> {
    let p = this.fieldKeys.get(name);
    if (!p) {
      p = this.defineField(name, signal).catch((err) => {
        this.fieldKeys.delete(name);
        throw err;
      });
      this.fieldKeys.set(name, p);
    }
    return p;
  }

  /**
   * Keys of the given global custom attributes that exist, without defining any: for read-only callers
   * (observe, plan, listing). An attribute not defined yet is on no object.
   */
  async existingFieldKeys(names: string[], signal?: AbortSignal): Promise<Map<string, number>> {
    if (names.every((n) => this.known.has(n))) return this.known;
    const known = this.known;
    for (const [name, key] of await this.definedFields(signal))
      if (names.includes(name)) known.set(name, key);
    return known;
  }

  private async definedFields(signal?: AbortSignal): Promise<Map<string, number>> {
    const sc = await this.serviceContent(signal);
    const [o] = await this.retrieve([sc.customFieldsManager], ['field'], signal);
    return new Map(
      arr(o?.props.field?.CustomFieldDef).map((d: Node) => [text(d.name) ?? '', Number(text(d.key))]),
    );
  }

  private async defineField(name: string, signal?: AbortSignal): Promise<number> {
    const sc = await this.serviceContent(signal);
    const known = this.known;
    const found = (await this.definedFields(signal)).get(name);
    if (found !== undefined) {
      known.set(name, found);
      return found;
    }
    try {
      const def = await this.invoke('AddCustomFieldDef', sc.customFieldsManager, el('name', name), {
        signal,
        idempotent: false,
      });
      const key = Number(text(def?.key));
      known.set(name, key);
      return key;
    } catch (err) {
      // Defined concurrently by another installation or process: use theirs.
      const again = (await this.definedFields(signal)).get(name);
      if (again !== undefined) {
        known.set(name, again);
        return again;
      }
      throw err;
    }
  }

  async setField(entity: MoRef, key: number, value: string, signal?: AbortSignal): Promise<void> {
    const sc = await this.serviceContent(signal);
    try {
      await this.invoke(
        'SetField',
        sc.customFieldsManager,
        moRefXml('entity', entity) + el('key', key) + el('value', value),
        { signal, idempotent: true },
      );
    } catch (err) {
      if (!(err instanceof InvalidArgument)) throw err;
      // The key is not defined (any more): the server lost the attribute (a simulator restarted) or it was
      // removed. Look the keys up again on the next attempt (retryable: VimError maps to Transient).
      this.fieldKeys = new Map();
      this.known = new Map();
      throw new VimError(
        `SetField: custom attribute key ${key} is not defined on this server; looked up again next time`,
      );
    }
  }
}

function propSpec(type: string, paths: string[]): string {
  return `<propSet><type>${type}</type><all>false</all>${paths.map((p) => el('pathSet', p)).join('')}</propSet>`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** Custom values of an entity as `key → value`. */
export function customValues(node: Node): Map<number, string> {
  const out = new Map<number, string>();
  for (const v of arr(node?.CustomFieldValue)) out.set(Number(text(v.key)), text(v.value) ?? '');
  return out;
}
