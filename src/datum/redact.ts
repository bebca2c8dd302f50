/**
 * Removes known secret values from any text before it reaches a log line, an event or a status message.
 * Secrets come from credential Secrets (ProviderConfig) and from the Secrets an Instance uses; the provider's
 * root logger passes every line through `redactLine`, so no caller has to remember to.
 */
import type { InstanceDesired } from './backend.ts';

export const REDACTED = '[redacted]';
/** Shorter values are ignored: hiding `true` or `8080` everywhere would mangle ordinary text. */
const MIN_LENGTH = 6;

/** How `s` looks inside a JSON string literal (quotes, backslashes, control characters escaped). */
const jsonEscaped = (s: string) => JSON.stringify(s).slice(1, -1);

export class Redactor {
  /** Each secret with the other forms it can take in text (JSON-escaped, escaped twice), longest first. */
  private forms: string[] = [];
  /** The same forms as they appear inside a serialized JSON line: the quick test of `redactLine`. */
  private lineForms: string[] = [];
  private readonly secrets = new Set<string>();

  /** Registers a value to hide; very short values are ignored (they would mangle ordinary text). */
  add(value: string): void {
    if (!value || value.length < MIN_LENGTH || this.secrets.has(value)) return;
    this.secrets.add(value);
    // A value read from a file often ends in a newline that the text quoting it does not have.
    if (value.trim() !== value) this.add(value.trim());
    const once = jsonEscaped(value);
    const forms = new Set([...this.forms, value, once, jsonEscaped(once)]);
    // Longest first, so a secret containing another one is hidden whole rather than leaving a remainder.
    this.forms = [...forms].sort((a, b) => b.length - a.length);
    this.lineForms = this.forms.map(jsonEscaped);
  }

  /**
   * Registers each value, and each line of a multi-line value (a PEM key, a .env file: a message may quote
   * one line of it).
   */
  addAll(values: Iterable<string>): void {
    for (const v of values) {
      this.add(v);
      if (v.includes('\n')) for (const line of v.split(/\r?\n/)) this.add(line.trim());
    }
  }

  /** Plain text (condition messages, events): every form of every secret becomes `[redacted]`. */
  redact(text: string): string {
    let out = text;
    for (const s of this.forms) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }

  /**
   * A JSON log line. Replacing inside the serialized text could cut an escape sequence (`\n` + a secret
   * starting with `n`) or span a quote and break the line; so when a secret may be present the line is
   * parsed, every string (keys too) redacted as plain text, and serialized again. Always valid JSON out.
   * An arrow property so that it can be handed to `createLogger({ redact })` as is.
   */
  readonly redactLine = (line: string): string => {
    // Inside a JSON string a secret always shows as its escaped form (double-escaped when the value was
    // itself JSON text), so this check finds every line that needs the slow path.
    if (!this.lineForms.some((f) => line.includes(f))) return line;
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch {
      return this.redact(line);
    }
    return JSON.stringify(this.redactValue(doc));
  };

  private redactValue(v: unknown): unknown {
    if (typeof v === 'string') return this.redact(v);
    if (Array.isArray(v)) return v.map((x) => this.redactValue(x));
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.redact(k), this.redactValue(x)]));
    return v;
  }
}

/** A Secret as read from the API: `data` is base64, `stringData` plain (only on objects not yet stored). */
export interface SecretLike {
  data?: Record<string, string> | null;
  stringData?: Record<string, string> | null;
  // Any other field (metadata, type): a KubeObject is accepted as it is.
  [key: string]: unknown;
}

/**
 * Registers every value of a Secret: the decoded `data` values (and their base64 text, which is just as
 * secret should a Secret object ever be logged), each line of multi-line values, and `stringData`.
 */
export function registerSecretData(redactor: Redactor, secret: SecretLike): void {
  const values: string[] = [];
  for (const b64 of Object.values(secret.data ?? {})) {
    if (typeof b64 !== 'string') continue;
    values.push(b64, Buffer.from(b64, 'base64').toString('utf8'));
  }
  for (const v of Object.values(secret.stringData ?? {})) if (typeof v === 'string') values.push(v);
  redactor.addAll(values);
}

/**
 * Registers the sensitive parts of an Instance's desired state: env values and file contents that came from
 * Secrets (decoded). Call it before the backend sees the desired state, so backend errors are covered.
 */
export function registerDesiredSecrets(redactor: Redactor, desired: InstanceDesired): void {
  const r = desired.runtime;
  const files = r.kind === 'sandbox' ? r.containers.flatMap((c) => c.files) : r.files;
  const env = r.kind === 'sandbox' ? r.containers.flatMap((c) => c.env) : [];
  redactor.addAll([
    ...env.filter((e) => e.sensitive).map((e) => e.value),
    ...files.filter((f) => f.sensitive).map((f) => Buffer.from(f.data, 'base64').toString('utf8')),
  ]);
}
