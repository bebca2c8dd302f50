/**
 * SIGTERM/SIGINT during start-up (a pod deleted while it loads modules and engages clusters): noted until the
 * manager handles signals itself, so start-up ends with a clean exit 0 instead of the process dying by the
 * signal (exit 143) halfway through.
 */
export interface EarlySignals {
  /** The first signal that arrived, if any. */
  received(): NodeJS.Signals | undefined;
  /** Stops noting (the manager's own handlers take over). */
  release(): void;
}

export function noteEarlySignals(): EarlySignals {
  let first: NodeJS.Signals | undefined;
  const note = (sig: NodeJS.Signals) => {
    first ??= sig;
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, note);
  return {
    received: () => first,
    release: () => {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.off(sig, note);
    },
  };
}
