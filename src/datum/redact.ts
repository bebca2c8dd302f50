/** Removes known secret values from any text before it reaches a log line, an event or a status message. */
export class Redactor {
  private readonly secrets = new Set<string>();

  /** Registers a value to hide; very short values are ignored (they would mangle ordinary text). */
  add(value: string): void {
    if (value && value.length >= 6) this.secrets.add(value);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
    return out;
  }
}
