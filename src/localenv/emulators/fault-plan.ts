/**
 * The fault plan every emulator proxy shares: rules matched against one request by action and occurrence, each
 * firing at most `times`; latencies add up, the first terminal fault (an error, a lost response, ...) wins.
 */
export interface PlannedFault {
  kind: string;
}

export interface FaultRuleOf<F extends PlannedFault> {
  /** The platform's operation name, or `*` for every request. */
  action: string;
  fault: F;
  /** 1-based occurrences of the action (counted since the last reset) the rule applies to; default: all. */
  nth?: number[];
  /** Fire at most this many times. */
  times?: number;
}

type Latency = { kind: 'latency'; ms: number };
const isLatency = (f: PlannedFault): f is Latency => f.kind === 'latency';

export class FaultPlan<F extends PlannedFault> {
  private rules: { rule: FaultRuleOf<F>; fired: number }[] = [];

  add(rules: FaultRuleOf<F>[]): void {
    for (const rule of rules) this.rules.push({ rule, fired: 0 });
  }

  clear(): void {
    this.rules = [];
  }

  /** Latencies of every matching rule, plus the first terminal fault. */
  take(action: string, occurrence: number): { delayMs: number; fault?: F } {
    let delayMs = 0;
    let fault: F | undefined;
    for (const r of this.rules) {
      if (r.rule.action !== '*' && r.rule.action !== action) continue;
      if (r.rule.nth && !r.rule.nth.includes(occurrence)) continue;
      if (r.rule.times !== undefined && r.fired >= r.rule.times) continue;
      if (isLatency(r.rule.fault)) {
        r.fired++;
        delayMs += r.rule.fault.ms;
      } else if (!fault) {
        r.fired++;
        fault = r.rule.fault;
      }
    }
    return { delayMs, fault };
  }
}
