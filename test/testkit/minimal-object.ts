/** Synthesises the smallest object a CRD schema accepts: every required field, nothing else. */
// biome-ignore lint/suspicious/noExplicitAny: walks arbitrary OpenAPI schemas
type Schema = any;

export function minimalValue(s: Schema): unknown {
  if (!s) return {};
  if (s.enum?.length) return s.enum[0];
  if (s['x-kubernetes-int-or-string']) return 1;
  switch (s.type) {
    case 'string':
      if (s.format === 'date-time') return '2026-01-01T00:00:00Z';
      return s.pattern?.includes('\\d') ? '1' : 'x';
    case 'integer':
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return false;
    case 'array':
      return Array.from({ length: s.minItems ?? 0 }, () => minimalValue(s.items));
    default: {
      const out: Record<string, unknown> = {};
      for (const k of s.required ?? []) out[k] = minimalValue(s.properties?.[k]);
      return out;
    }
  }
}
