/**
 * A watch stream decodes UTF-8 across chunk boundaries: the server here sends one event in two chunks split in
 * the middle of a multi-byte character (what a real stream does at arbitrary points), and the value arrives
 * intact. The chaos suite found the per-chunk decoding that turned such characters into U+FFFD.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createClient } from '../../src/runtime/client/client.ts';
import type { ResourceType } from '../../src/runtime/client/types.ts';

const R: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};

describe('watch decoding', () => {
  it('keeps multi-byte characters split across chunks', async () => {
    const value = 'é🦄ü€'.repeat(50);
    const line = Buffer.from(
      `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'x', resourceVersion: '2' }, data: { v: value } } })}\n`,
    );
    const unicorn = line.indexOf(Buffer.from('🦄'));
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // Split inside the 4-byte unicorn, and flush between the halves.
      res.write(line.subarray(0, unicorn + 2));
      setTimeout(() => res.end(line.subarray(unicorn + 2)), 50);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const client = createClient({ server: `http://127.0.0.1:${port}`, disableCompression: true });
      const got: string[] = [];
      for await (const ev of client.watch(R, { namespace: 'n', timeoutSeconds: 5 }))
        got.push((ev.object as unknown as { data: { v: string } }).data.v);
      assert.equal(got.length, 1);
      assert.equal(got[0], value, 'the value arrives intact');
      await client.close();
    } finally {
      server.close();
    }
  });
});
