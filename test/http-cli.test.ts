// The built binary with --transport http: startup safety and clean shutdown.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/tmp.js';

const cli = join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'cli.js');

describe('vector-memory-mcp --transport http', () => {
  it('refuses a non-loopback address without a token, exit 2, naming the fix', () => {
    const dir = tempDir();
    const r = spawnSync(
      process.execPath,
      [cli, '--transport', 'http', '--host', '0.0.0.0', '--port', '0', '--data-dir', dir.path],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    dir.cleanup();
    assert.equal(r.status, 2);
    assert.match(r.stderr, /refusing to serve 0\.0\.0\.0.*MEMORY_HTTP_TOKEN/);
    assert.match(r.stderr, /--allow-insecure-remote/);
  });

  it('starts with --allow-insecure-remote, says so loudly, and exits 0 on SIGTERM', async () => {
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      [
        cli,
        '--transport',
        'http',
        '--host',
        '0.0.0.0',
        '--port',
        '0',
        '--allow-insecure-remote',
        '--data-dir',
        dir.path,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 15_000;
    while (!/listening on HTTP/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(stderr, /WITHOUT A TOKEN/);
    assert.match(stderr, /listening on HTTP/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    dir.cleanup();
  });

  it('rejects a bad HTTP setting with exit 2', () => {
    const r = spawnSync(process.execPath, [cli, '--transport', 'http', '--http-token', 'short'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /MEMORY_HTTP_TOKEN \(--http-token\): must be at least 16 characters/);
    assert.doesNotMatch(r.stderr, /short/, 'the secret is not echoed');
  });
});
