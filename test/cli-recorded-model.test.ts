// `health`, `repair` and `backfill` from a shell describe the index the server keeps: without
// provider settings they use the model recorded in the data directory; settings naming another
// model are refused. On a terminal `health` prints a summary; piped or with --json, JSON.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startHarness, testConfig } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';
import { callOk } from './helpers/tool-call.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'src', 'cli.ts');
const RECORDED = 'hash:feature-hash-v1:128';

describe('CLI commands use the recorded model', { timeout: 120_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', cli, ...args, '--data-dir', dir.path], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env['PATH'] ?? '', HOME: dir.path, MEMORY_LOG_LEVEL: 'warn', WORD_VECTORS_DIR: dir.path },
    });

  before(async () => {
    dir = tempDir();
    // The server ran with settings of its own (hash vectors of dimension 128), then stopped.
    const h = await startHarness(
      testConfig(dir.path, {}, ['--embedding-provider', 'hash', '--embedding-dimensions', '128']),
    );
    await callOk(h, 'memory_store', { items: [{ text: 'alpha build server' }, { text: 'beta cache host' }] });
    await h.close();
    assert.ok(existsSync(join(dir.path, 'index')), 'the server left its index snapshot');
  });
  after(() => dir.cleanup());

  it('health without provider settings reports the recorded model and its memories', () => {
    const r = run(['health']);
    const report = JSON.parse(r.stdout) as {
      status: string;
      provider: { fingerprint: string };
      store: { total: number; embedded_current_model: number };
    };
    assert.equal(report.provider.fingerprint, RECORDED, r.stderr);
    assert.equal(report.store.total, 2);
    assert.equal(report.store.embedded_current_model, 2);
    assert.equal(r.status, report.status === 'ok' ? 0 : 1);
  });

  it('repair without provider settings rebuilds the recorded index, not an empty one of another model', () => {
    const r = run(['repair', '--mode', 'rebuild']);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { plan: { rebuild_vectors: number } };
    assert.equal(result.plan.rebuild_vectors, 2);
  });

  it('refuses settings that name another model, saying which model the data directory holds', () => {
    for (const args of [
      ['health', '--embedding-provider', 'hash', '--embedding-dimensions', '64'],
      ['repair', '--mode', 'rebuild', '--embedding-provider', 'hash'],
      ['backfill', '--once', '--embedding-provider', 'hash', '--embedding-dimensions', '64'],
    ]) {
      const r = run(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`holds an index of the model ${RECORDED}.*give the settings the server runs with`),
      );
      assert.equal(r.stdout, '');
    }
  });

  it('health on a terminal prints a short summary; --json prints the report', () => {
    const cmd = [process.execPath, '--import', 'tsx', cli, 'health', '--data-dir', dir.path]
      .map((a) => `'${a}'`)
      .join(' ');
    const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env['PATH'] ?? '', HOME: dir.path, MEMORY_LOG_LEVEL: 'error', WORD_VECTORS_DIR: dir.path },
    });
    assert.match(tty.stdout, /^status: (ok|degraded|failing)/m, tty.stdout);
    assert.match(tty.stdout, /store: sqlite, 2 memories/);
    assert.ok(tty.stdout.split('\n').length < 20, 'a summary, not the whole report');
    assert.doesNotMatch(tty.stdout, /"checked_at"/);
    const json = spawnSync('script', ['-qec', `${cmd} --json`, '/dev/null'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env['PATH'] ?? '', HOME: dir.path, MEMORY_LOG_LEVEL: 'error', WORD_VECTORS_DIR: dir.path },
    });
    assert.match(json.stdout, /"checked_at"/);
  });

  it('backfill against a provider that refuses connections fails in seconds, naming its URL', () => {
    const fresh = tempDir();
    try {
      const started = Date.now();
      const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'backfill', '--once', '--data-dir', fresh.path], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: fresh.path,
          MEMORY_LOG_LEVEL: 'error',
          OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
          EMBEDDING_MODEL: 'refused-model',
        },
      });
      assert.equal(r.status, 1, r.stderr);
      const out = JSON.parse(r.stdout) as { outcome: string; error: string };
      assert.equal(out.outcome, 'failed');
      assert.match(out.error, /http:\/\/127\.0\.0\.1:9\/v1/);
      assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
    } finally {
      fresh.cleanup();
    }
  });
});
