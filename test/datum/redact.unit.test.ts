/** Redaction as a property of the log sink, and the ways secret values get registered. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceDesired } from '../../src/datum/backend.ts';
import { Redactor, registerDesiredSecrets, registerSecretData } from '../../src/datum/redact.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';

const PLAIN = 's3cr3t-Pa55word';
const QUOTED = 'pa"ss\\wo/rd-xyz'; // a quote and a backslash: escaped differently inside JSON
const esc = (s: string) => JSON.stringify(s).slice(1, -1);

/** Every string in a parsed JSON value, keys included. */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]);
  return [];
}

function assertClean(lines: string[], secrets: string[]): void {
  for (const line of lines) {
    const doc = JSON.parse(line); // still valid JSON after redaction
    for (const s of secrets) {
      for (const form of [s, esc(s), esc(esc(s))]) assert.ok(!line.includes(form), `${form} in ${line}`);
      for (const str of strings(doc)) assert.ok(!str.includes(s), `${s} in ${str}`);
    }
  }
}

describe('logger with a redacting sink', () => {
  it('hides registered secrets in every line of every child logger, and keeps the line valid JSON', () => {
    const r = new Redactor();
    r.add(PLAIN);
    r.add(QUOTED);
    const lines: string[] = [];
    const root = createLogger({
      level: 'debug',
      sink: (l) => lines.push(l),
      redact: r.redactLine,
      fields: { logger: 'test' },
    });
    const child = root.child({ controller: 'instance' }).child({ cluster: 'p1' });
    const err = new Error(`AuthFailure: key ${PLAIN} rejected`);
    assert.match(err.stack ?? '', new RegExp(PLAIN)); // the stack repeats the message
    child.error(`delete failed for ${QUOTED}`, {
      err,
      stack: err.stack,
      request: { headers: { authorization: `Bearer ${PLAIN}` }, tries: [QUOTED] },
      body: JSON.stringify({ password: QUOTED }), // JSON text in a field: the secret is escaped twice
      [PLAIN]: 'as a key',
    });
    root.warn('backend says', { error: new Error(`${QUOTED}\n${PLAIN}`) });
    child.debug('no secret here', { n: 1 });
    assert.equal(lines.length, 3);
    assertClean(lines, [PLAIN, QUOTED]);
    const first = JSON.parse(lines[0]!);
    assert.equal(first.msg, 'delete failed for [redacted]');
    assert.deepEqual(first.err, { name: 'Error', message: 'AuthFailure: key [redacted] rejected' });
    assert.equal(first.request.headers.authorization, 'Bearer [redacted]');
    assert.equal(JSON.parse(first.body).password, '[redacted]');
    assert.equal(first['[redacted]'], 'as a key');
    assert.equal(first.controller, 'instance'); // other fields untouched
    assert.equal(first.cluster, 'p1');
    assert.equal(JSON.parse(lines[1]!).error.message, '[redacted]\n[redacted]');
    assert.equal(JSON.parse(lines[2]!).msg, 'no secret here');
  });

  it('leaves text alone that only looks like a secret next to an escape sequence', () => {
    // In the serialized line `\nabcdefgh` contains `nabcdefg`; a textual replace would leave `\[redacted]`.
    const r = new Redactor();
    r.add('nabcdefg');
    const lines: string[] = [];
    createLogger({ sink: (l) => lines.push(l), redact: r.redactLine }).info('line1\nabcdefgh');
    assert.equal(JSON.parse(lines[0]!).msg, 'line1\nabcdefgh');
  });

  it('writes lines unchanged without a redact function (the runtime knows no secrets)', () => {
    const lines: string[] = [];
    createLogger({ sink: (l) => lines.push(l) }).info(PLAIN);
    assert.equal(JSON.parse(lines[0]!).msg, PLAIN);
  });
});

describe('registering secret values', () => {
  it('registers every value of a Secret: decoded data, its base64 text, stringData, each line', () => {
    const r = new Redactor();
    const pem = '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----\n';
    registerSecretData(r, {
      data: {
        key: Buffer.from(pem).toString('base64'),
        token: Buffer.from('tok-123456\n').toString('base64'),
      },
      stringData: { password: 'hunter2-hunter2' },
    });
    const text = `a MIIEvQIBADANBgkqhkiG9w0BAQEFAASC b tok-123456 c hunter2-hunter2 d ${Buffer.from(pem).toString('base64')}`;
    assert.equal(r.redact(text), 'a [redacted] b [redacted] c [redacted] d [redacted]');
    assert.equal(r.redact('ok'), 'ok'); // short values are never registered, nothing else changes
  });

  it('registers the sensitive env values and file contents of a desired instance, not the others', () => {
    const r = new Redactor();
    const desired = {
      runtime: {
        kind: 'sandbox',
        containers: [
          {
            env: [
              { name: 'DB_PASSWORD', value: 'db-pass-9876', sensitive: true },
              { name: 'MODE', value: 'production', sensitive: false },
            ],
            files: [
              {
                path: '/etc/tls.key',
                data: Buffer.from('file-secret-555').toString('base64'),
                sensitive: true,
              },
              {
                path: '/etc/app.conf',
                data: Buffer.from('plain-config').toString('base64'),
                sensitive: false,
              },
            ],
          },
        ],
      },
    } as unknown as InstanceDesired;
    registerDesiredSecrets(r, desired);
    assert.equal(
      r.redact('db-pass-9876 production file-secret-555 plain-config'),
      '[redacted] production [redacted] plain-config',
    );
  });

  it('hides a secret containing another one whole', () => {
    const r = new Redactor();
    r.add('abcdef');
    r.add('abcdef-longer');
    assert.equal(r.redact('x abcdef-longer y'), 'x [redacted] y');
  });
});
