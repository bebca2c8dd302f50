/**
 * Instance Ready in a cell, derived as the cell generation's compute describes it: from the scheduling
 * gates, QuotaGranted, ReferencedDataReady, and the provider's Programmed and Available (whose reasons
 * propagate verbatim). Suspended Instances are not Ready (reason Suspended).
 *
 * Where this differs from compute (whose newest code we cannot read or build here): the reason when Ready is
 * True ('Ready') and the order the inputs are checked in are our reading of its documentation, not its code.
 */
import type { CellInstance } from '../../../datum/api/cell-types.ts';
import { conditionOf } from '../standalone/util.ts';

export interface ReadyVerdict {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

const notYet = (reason: string | undefined) =>
  !reason || reason === 'Pending' || reason === 'PendingEvaluation';

export function deriveCellReady(inst: CellInstance): ReadyVerdict {
  if (inst.status?.suspended)
    return { status: 'False', reason: 'Suspended', message: 'Instance is suspended' };
  const gates = (inst.spec?.controller?.schedulingGates ?? []).map((g) => g.name);
  if (gates.length)
    return { status: 'False', reason: 'Provisioning', message: `Waiting for: ${gates.join(', ')}` };
  const quota = conditionOf(inst, 'QuotaGranted');
  if (quota?.status !== 'True')
    return { status: 'False', reason: 'Provisioning', message: 'Waiting for quota to be granted' };
  const data = conditionOf(inst, 'ReferencedDataReady');
  if (data && data.status !== 'True')
    return {
      status: 'False',
      reason: 'Provisioning',
      message: data.message || 'Waiting for referenced data',
    };
  for (const type of ['Programmed', 'Available']) {
    const c = conditionOf(inst, type);
    if (c?.status !== 'True')
      return {
        status: 'False',
        reason: notYet(c?.reason) ? 'Provisioning' : c!.reason,
        message: c?.message || `Waiting for ${type}`,
      };
  }
  return { status: 'True', reason: 'Ready', message: 'Instance is ready' };
}
