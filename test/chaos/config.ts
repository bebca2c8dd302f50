/** Sizes of a chaos run: the full run and the quick one that `make test` runs. */

export interface ChaosConfig {
  quick: boolean;
  seed: number;
  backends: ('inmemory' | 'aws')[];
  scenarios: ScenarioName[];
  storm: {
    instances: number;
    /** SIGKILLs while Instances are being created, every `failpointEvery`-th through the failpoint. */
    createKills: number;
    deleteKills: number;
    failpointEvery: number;
  };
  apiFaults: { perBatch: number; stopSeconds: number };
  backendFaults: { instances: number };
  /** Per backend: moto answers the AWS backend's calls far slower, so it gets fewer in the full run. */
  badInput: Record<'inmemory' | 'aws', { invalid: number; valid: number; hostile: number }>;
  /** How long a set of Instances may take to converge after the last fault. */
  convergeMs: number;
}

export const SCENARIOS = ['kill-storm', 'api-faults', 'backend-faults', 'bad-input'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export function chaosConfig(argv: string[]): ChaosConfig {
  const quick = argv.includes('--quick');
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const backends = (value('--backend') ?? 'inmemory,aws').split(',') as ChaosConfig['backends'];
  const scenarios = (value('--scenario') ?? SCENARIOS.join(',')).split(',') as ScenarioName[];
  for (const b of backends) if (b !== 'inmemory' && b !== 'aws') throw new Error(`unknown backend ${b}`);
  for (const s of scenarios)
    if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s}`);
  return {
    quick,
    seed: Number(value('--seed') ?? Date.now() % 1_000_000),
    backends,
    scenarios,
    storm: quick
      ? { instances: 16, createKills: 4, deleteKills: 2, failpointEvery: 2 }
      : { instances: 60, createKills: 36, deleteKills: 16, failpointEvery: 3 },
    apiFaults: { perBatch: quick ? 4 : 10, stopSeconds: 9 },
    backendFaults: { instances: quick ? 6 : 20 },
    badInput: quick
      ? { inmemory: { invalid: 100, valid: 4, hostile: 10 }, aws: { invalid: 100, valid: 4, hostile: 10 } }
      : {
          inmemory: { invalid: 1000, valid: 30, hostile: 60 },
          aws: { invalid: 300, valid: 10, hostile: 30 },
        },
    convergeMs: quick ? 120_000 : 300_000,
  };
}

/** A small seeded generator (mulberry32): a run is repeatable with `--seed`. */
export function rng(seed: number): {
  next(): number;
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
} {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
  };
}
