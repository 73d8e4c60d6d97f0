// HTTP abuse: requests the transport refuses must keep nothing (they leaked an McpServer each),
// and a body that trickles in is cut off at its deadline.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { INITIALIZE, rawRequest, startHttpHarness, type HttpHarness } from './helpers/http-harness.js';
import { cliPath } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';

const NOT_ACCEPTABLE = { 'content-type': 'application/json', accept: 'application/json' };
const NOT_JSON = { 'content-type': 'text/plain', accept: 'application/json, text/event-stream' };

describe('HTTP: refused requests keep nothing', () => {
  let h: HttpHarness;
  let dir: ReturnType<typeof tempDir>;
  before(async () => {
    dir = tempDir();
    h = await startHttpHarness(dir.path, ['--body-timeout-ms', '500']);
  });
  after(async () => {
    await h.close();
    dir.cleanup();
  });

  it('answers 406 and 415 to initialize without making a server for it', async () => {
    const baseline = h.app.notifier.size;
    for (let i = 0; i < 50; i++) {
      const a = await rawRequest(h.http.port, { headers: NOT_ACCEPTABLE, body: INITIALIZE });
      assert.equal(a.status, 406);
      assert.match(a.body, /Not Acceptable/);
      const b = await rawRequest(h.http.port, { headers: NOT_JSON, body: INITIALIZE });
      assert.equal(b.status, 415);
      assert.match(b.body, /Content-Type must be application\/json/);
    }
    // Each McpServer subscribes to the notifier; none of those requests may have left one.
    assert.equal(h.app.notifier.size, baseline);
    assert.equal(h.http.sessionCount(), 0);
  });

  it('a body trickling in is answered 408 at MEMORY_HTTP_BODY_TIMEOUT_MS and the connection closed', async () => {
    const socket = connect(h.http.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${h.http.port}\r\ncontent-type: application/json\r\n` +
        'accept: application/json, text/event-stream\r\ncontent-length: 100\r\n\r\n{',
    );
    const trickle = setInterval(() => socket.writable && socket.write(' '), 200);
    const started = Date.now();
    await closed;
    clearInterval(trickle);
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.match(answer, /MEMORY_HTTP_BODY_TIMEOUT_MS/);
    // Generous: the deadline is 500 ms; without one the connection stays open for good.
    assert.ok(Date.now() - started < 10_000);
    // And the server still serves.
    const ok = await rawRequest(h.http.port, { headers: NOT_ACCEPTABLE, body: INITIALIZE });
    assert.equal(ok.status, 406);
  });
});

describe('HTTP: memory after thousands of refused requests (the built binary)', () => {
  it('stays roughly flat', { timeout: 180_000 }, async (t) => {
    const dir = tempDir();
    const child = spawn(process.execPath, [cliPath, '--data-dir', dir.path, '--transport', 'http', '--port', '0'], {
      env: { PATH: process.env['PATH'] ?? '', HOME: dir.path, MEMORY_LOG_LEVEL: 'info', EMBEDDING_PROVIDER: 'hash' },
    });
    try {
      let stderr = '';
      const port = await new Promise<number>((resolve, reject) => {
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
          const m = /"streamableHttp":"http:\/\/127\.0\.0\.1:(\d+)\/mcp"/.exec(stderr);
          if (m) resolve(Number(m[1]));
        });
        child.on('exit', () => reject(new Error(`server exited: ${stderr}`)));
      });
      const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024;
      const refuse = async (n: number) => {
        for (let i = 0; i < n; i += 10) {
          await Promise.all(
            Array.from({ length: 10 }, (_, j) =>
              rawRequest(port, { headers: (i + j) % 2 === 0 ? NOT_ACCEPTABLE : NOT_JSON, body: INITIALIZE }),
            ),
          );
        }
      };
      await refuse(500); // warm up: JIT, pools, buffers
      const before = rss();
      await refuse(3000);
      const grown = rss() - before;
      // Before the fix: ~60 KB each, 177 MiB for 3,000. Generous bound for GC timing.
      t.diagnostic(`rss grew ${(grown / 1048576).toFixed(1)} MiB`);
      assert.ok(grown < 40 * 1024 * 1024, `grew ${(grown / 1048576).toFixed(1)} MiB over 3,000 refused requests`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      dir.cleanup();
    }
  });
});
