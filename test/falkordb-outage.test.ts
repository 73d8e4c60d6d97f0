// FalkorDB going away while the server runs: calls fail with a clear error, nothing crashes,
// and everything works again once FalkorDB is back, without restarting the server.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startFalkorDB, uniqueGraph, type FalkorServer } from './helpers/falkordb.js';
import { startHarness, testConfig, textOf } from './helpers/harness.js';
import { childEnv, cliPath } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { output } from './helpers/tool-call.js';
import { waitFor } from './helpers/wait.js';

describe('FalkorDB outage', () => {
  let server: FalkorServer;
  before(async () => {
    server = await startFalkorDB({ persist: true });
  });
  after(async () => {
    await server.stop();
  });

  it('fails calls clearly while FalkorDB is down and recovers without a restart', async () => {
    const dir = tempDir();
    const h = await startHarness(
      testConfig(dir.path, {
        FALKORDB_URL: server.url,
        FALKORDB_GRAPH: uniqueGraph('outage'),
        FALKORDB_TIMEOUT_MS: '2000',
        BACKFILL_INTERVAL_MS: '0',
      }),
    );
    try {
      await h.app.service.ready();
      const ok = await h.call('memory_store', { id: 'before', text: 'stored before the outage' });
      assert.equal(ok.isError, undefined, textOf(ok));

      await server.kill();
      for (const [tool, args] of [
        ['memory_store', { id: 'during', text: 'stored during the outage' }],
        ['memory_search', { query: 'outage' }],
        ['memory_get', { id: 'before' }],
        ['memory_delete', { id: 'before' }],
        ['backfill_status', {}],
      ] as const) {
        const started = Date.now();
        const r = await h.call(tool, args);
        assert.equal(r.isError, true, `${tool} must fail while FalkorDB is down`);
        assert.match(textOf(r), /FalkorDB at redis:\/\/127\.0\.0\.1:\d+ is unreachable/, tool);
        assert.match(textOf(r), /nothing was changed/, tool);
        assert.ok(Date.now() - started < 5000, `${tool} failed fast`);
      }
      assert.ok((await h.client.listTools()).tools.length >= 7, 'the server still answers');

      await server.restart();
      const back = await waitFor(
        async () => {
          const r = await h.call('memory_search', { query: 'stored before the outage', k: 1 });
          return r.isError ? undefined : r;
        },
        15_000,
        'calls to work again',
      );
      const results = output('memory_search', back!).results;
      assert.equal(results[0]?.id, 'before', 'the memory stored before the outage survived');
      const during = await h.call('memory_get', { id: 'during' });
      assert.equal(during.isError, true, 'the write refused during the outage did not happen later');
      const after = await h.call('memory_store', { id: 'after', text: 'stored after the outage' });
      assert.equal(after.isError, undefined, textOf(after));
    } finally {
      await h.close();
      dir.cleanup();
    }
  });

  it('answers initialize at once when FalkorDB accepts connections but never answers', async () => {
    const silent = createServer((socket) => socket.on('data', () => undefined)); // reads, never replies
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const dir = tempDir();
    const client = new Client({ name: 'silent-falkordb', version: '1' });
    const started = Date.now();
    try {
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [cliPath, '--data-dir', dir.path],
          env: childEnv(dir.path, { FALKORDB_URL: `redis://127.0.0.1:${port}`, FALKORDB_TIMEOUT_MS: '3000' }),
          stderr: 'pipe',
        }),
      );
      const handshakeMs = Date.now() - started;
      assert.ok(handshakeMs < 2000, `initialize took ${handshakeMs} ms; it must not wait for FalkorDB`);
      const r = (await client.callTool({ name: 'memory_get', arguments: { id: 'x' } })) as CallToolResult;
      assert.equal(r.isError, true);
      assert.match(textOf(r), /FalkorDB/);
    } finally {
      await client.close();
      silent.close();
      dir.cleanup();
    }
  });

  it('serves the built binary over stdio from FalkorDB, and finds a memory after a restart', async () => {
    const cli = cliPath;
    const dir = tempDir();
    const graph = uniqueGraph('binary');
    const connect = async () => {
      const client = new Client({ name: 'falkordb-binary', version: '1' });
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [cli, '--data-dir', dir.path],
          env: childEnv(dir.path, { FALKORDB_URL: server.url, FALKORDB_GRAPH: graph }),
          stderr: 'pipe',
        }),
      );
      return client;
    };
    const first = await connect();
    const stored = (await first.callTool({
      name: 'memory_store',
      arguments: { id: 'fdb-1', text: 'the staging cluster is in Oslo' },
    })) as CallToolResult;
    assert.equal(stored.isError, undefined, textOf(stored));
    await first.close();
    const second = await connect();
    const found = (await second.callTool({
      name: 'memory_search',
      arguments: { query: 'where is the staging cluster', k: 1 },
    })) as CallToolResult;
    assert.equal(output('memory_search', found).results[0]?.id, 'fdb-1');
    await second.close();
    dir.cleanup();
  });
});
