/**
 * Repeated rounds: the order subjects run in changes every round (the first subject of a run has been seen
 * to be up to 30% slower on the same machine), and each figure is the median over the rounds.
 */
import type { SubjectResult } from './report.ts';

/** Round `r`'s order: the subjects rotated by `r`. */
export function roundOrder<T>(subjects: T[], r: number): T[] {
  const k = r % subjects.length;
  return [...subjects.slice(k), ...subjects.slice(0, k)];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * One result from several rounds of one subject: every numeric figure is the median of the rounds that have
 * it; anything else (breakdowns by resource) is the first round's. The rounds themselves are kept.
 */
export function combineRounds(rounds: SubjectResult[]): SubjectResult & { rounds?: SubjectResult[] } {
  if (rounds.length === 1) return rounds[0]!;
  const error = rounds.find((r) => r.error)?.error;
  const scenarios: SubjectResult['scenarios'] = {};
  for (const name of new Set(rounds.flatMap((r) => Object.keys(r.scenarios)))) {
    const runs = rounds.map((r) => r.scenarios[name]).filter((s) => s !== undefined);
    const out: Record<string, unknown> = { ...runs[0] };
    for (const [field, v] of Object.entries(runs[0]!))
      if (typeof v === 'number')
        out[field] = median(runs.map((s) => s[field]).filter((x): x is number => typeof x === 'number'));
    scenarios[name] = out;
  }
  return { scenarios, ...(error ? { error } : {}), rounds };
}
