/** Structured JSON logging: one line per record, fields merged from every `child()` along the way. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogSink = (line: string) => void;

export interface LoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  fields?: Record<string, unknown>;
  /**
   * Applied to every serialized JSON line before the sink sees it, in this logger and all its children, so
   * that hiding secrets does not depend on each caller remembering to. The runtime knows nothing of what is
   * secret: the application passes the function in (e.g. Datum's `Redactor.redactLine`).
   */
  redact?: (line: string) => string;
}

function serializeError(err: Error): Record<string, unknown> {
  return { name: err.name, message: err.message };
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? ((process.env.LOG_LEVEL as LogLevel | undefined) || 'info');
  const sink = opts.sink ?? ((line: string) => process.stderr.write(`${line}\n`));
  const redact = opts.redact;
  const base = opts.fields ?? {};
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const rec: Record<string, unknown> = { ts: new Date().toISOString(), level: lvl, msg, ...base };
    // Any Error value, not only `err`: JSON.stringify would turn it into `{}` and lose the message.
    for (const [k, v] of Object.entries(fields ?? {})) rec[k] = v instanceof Error ? serializeError(v) : v;
    const line = JSON.stringify(rec);
    sink(redact ? redact(line) : line);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ level, sink, redact, fields: { ...base, ...fields } }),
  };
}

/** A logger that drops everything: for tests and library defaults. */
export const silentLogger: Logger = createLogger({ level: 'error', sink: () => {} });
