/**
 * The controller builder, as controller-runtime's:
 *   new ControllerBuilder(mgr, 'instance')
 *     .for(INSTANCE, { predicates: [generationChanged] })
 *     .owns(POD)
 *     .watches(SECRET, (secret, cluster) => [...requests])
 *     .withOptions({ maxConcurrentReconciles: 4 })
 *     .complete(reconciler);
 */
import type { KubeObject, ResourceType } from '../client/types.ts';
import type { Manager } from '../manager/manager.ts';
import { Controller, type ControllerOptions, type MapFunc, type Source } from './controller.ts';
import type { Predicate } from './predicates.ts';
import type { Reconciler, Request } from './reconcile.ts';

interface WatchOpts {
  predicates?: Predicate[];
  labelSelector?: string;
  fieldSelector?: string;
  metadataOnly?: boolean;
}

export class ControllerBuilder {
  private readonly mgr: Manager;
  private readonly name: string;
  private forType: ResourceType | undefined;
  private readonly sources: Source[] = [];
  private readonly global: Predicate[] = [];
  private options: ControllerOptions = {};

  constructor(mgr: Manager, name: string) {
    this.mgr = mgr;
    this.name = name;
  }

  for(r: ResourceType, o: WatchOpts = {}): this {
    if (this.forType) throw new Error(`controller ${this.name}: for() called twice`);
    this.forType = r;
    this.sources.push({
      resource: r,
      map: selfRequest,
      predicates: o.predicates ?? [],
      informerOptions: informerOpts(o),
    });
    return this;
  }

  /** Reconcile the controlling owner (of the `for` kind) when an owned object changes. */
  owns(r: ResourceType, o: WatchOpts = {}): this {
    const owner = () => this.forType!;
    this.sources.push({
      resource: r,
      map: (obj, cluster) => {
        const t = owner();
        const ref = obj.metadata.ownerReferences?.find(
          (x) =>
            x.controller &&
            x.kind === t.kind &&
            x.apiVersion.split('/')[0] === (t.group || 'v1').split('/')[0],
        );
        return ref
          ? [{ cluster, namespace: t.namespaced ? obj.metadata.namespace : undefined, name: ref.name }]
          : [];
      },
      predicates: o.predicates ?? [],
      informerOptions: informerOpts(o),
    });
    return this;
  }

  watches(r: ResourceType, map: MapFunc, o: WatchOpts = {}): this {
    this.sources.push({ resource: r, map, predicates: o.predicates ?? [], informerOptions: informerOpts(o) });
    return this;
  }

  /** Predicates applied to every source. */
  withPredicates(...ps: Predicate[]): this {
    this.global.push(...ps);
    return this;
  }

  withOptions(o: ControllerOptions): this {
    this.options = { ...this.options, ...o };
    return this;
  }

  complete(reconciler: Reconciler): Controller {
    if (!this.forType) throw new Error(`controller ${this.name}: for() is required`);
    const sources = this.sources.map((s) => ({ ...s, predicates: [...this.global, ...s.predicates] }));
    const c = new Controller(this.name, sources, reconciler, this.options, this.mgr.log, this.mgr.metrics);
    this.mgr.addController(c);
    return c;
  }
}

function selfRequest(obj: KubeObject, cluster: string): Request[] {
  return [{ cluster, namespace: obj.metadata.namespace, name: obj.metadata.name! }];
}

function informerOpts(o: WatchOpts) {
  return { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, metadataOnly: o.metadataOnly };
}
