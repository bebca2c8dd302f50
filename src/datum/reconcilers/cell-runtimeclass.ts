/**
 * Accepted on the RuntimeClasses that name our controller: True when the backend honours every feature and
 * lifecycle operation the class declares, else False/UnsupportedFeature naming what it cannot. Other
 * controllers' classes are never touched.
 */
import type { ReconcileContext, Reconciler, Request, Result } from '../../runtime/controller/reconcile.ts';
import type { CellInstance, RuntimeClass } from '../api/cell-types.ts';
import { RUNTIME_CLASS } from '../api/resources.ts';
import { CONDITION, cellLocation, ownsRuntimeClass } from '../cell.ts';
import { acceptance } from '../cell-runtimeclass.ts';
import { defaultCellSettings } from '../settings.ts';
import { cond, type ProviderContext, writeStatus } from './common.ts';
import { capabilitiesFor, Refusal } from './instance-desired.ts';

export class RuntimeClassReconciler implements Reconciler {
  private readonly p: ProviderContext;
  constructor(p: ProviderContext) {
    this.p = p;
  }

  async reconcile(req: Request, _rc: ReconcileContext): Promise<Result | undefined> {
    const cluster = this.p.mgr.cluster(req.cluster);
    const rc = cluster.cache.informerFor<RuntimeClass>(RUNTIME_CLASS).get(req.name);
    if (!rc || rc.metadata.deletionTimestamp) return;
    if (!ownsRuntimeClass(rc, this.p.settings.cell ?? defaultCellSettings())) return;
    const gen = rc.metadata.generation;
    const loc = cellLocation({ metadata: {} } as CellInstance, this.p.settings);
    try {
      const v = acceptance(
        rc,
        await capabilitiesFor(this.p, loc, undefined, req.cluster),
        this.p.backend.name,
      );
      await writeStatus(
        cluster,
        RUNTIME_CLASS,
        rc,
        [cond(CONDITION.Accepted, v.accepted ? 'True' : 'False', v.reason, v.message, gen)],
        {},
        this.p.redactor,
      );
      return;
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      // No usable ProviderConfig yet: what the backend offers is unknown, so the verdict waits.
      await writeStatus(
        cluster,
        RUNTIME_CLASS,
        rc,
        [cond(CONDITION.Accepted, 'Unknown', 'Pending', err.message, gen)],
        {},
        this.p.redactor,
      );
      return { requeueAfter: 30_000 };
    }
  }
}
