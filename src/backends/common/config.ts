/**
 * Reading a ProviderConfig's free-form `config` values (strings): maps, booleans, bounded integers. Every
 * failure is an InvalidConfiguration naming the key, so the object's condition says what to fix.
 */
import { BackendError } from '../../datum/backend.ts';

const invalid = (msg: string) => new BackendError('InvalidConfiguration', msg);

/** `a=b,c=d` (commas or newlines), or a JSON object (nested values come back as JSON text). */
export function parseMap(text: string, what: string): Record<string, string> {
  const t = text.trim();
  if (t.startsWith('{')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      throw invalid(`config "${what}" is not valid JSON`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v))
      throw invalid(`config "${what}" must be a JSON object`);
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [
        k,
        typeof x === 'object' && x ? JSON.stringify(x) : String(x),
      ]),
    );
  }
  const out: Record<string, string> = {};
  for (const part of t.split(/[,\n]/)) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalid(`config "${what}": "${part.trim()}" is not key=value`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export function parseBool(text: string, what: string): boolean {
  if (/^(true|yes|1)$/i.test(text)) return true;
  if (/^(false|no|0)$/i.test(text)) return false;
  throw invalid(`config "${what}" must be true or false`);
}

export function parseIntIn(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw invalid(`config "${what}" must be an integer ${min}..${max}`);
  return n;
}
