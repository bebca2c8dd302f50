/**
 * The provider's own metrics, next to the runtime's in the manager's registry: trouble that is kept out of
 * status (a transient backend error on an object that is programmed) is still counted.
 */
import { Counter, type Registry } from 'prom-client';

const counters = new WeakMap<Registry, Counter<'kind' | 'reason'>>();

/** `datum_provider_transient_errors_total{kind, reason}`: retryable failures on programmed objects. */
export function transientErrors(registry: Registry): Counter<'kind' | 'reason'> {
  let c = counters.get(registry);
  if (!c) {
    c = new Counter({
      name: 'datum_provider_transient_errors_total',
      help: 'Retryable backend failures on objects that stay Programmed (their last good condition is kept)',
      labelNames: ['kind', 'reason'],
      registers: [registry],
    });
    counters.set(registry, c);
  }
  return c;
}
