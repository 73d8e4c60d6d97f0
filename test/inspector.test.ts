// Runs the README's "Drive it from a shell" commands exactly as written, from the repository
// root, with the pinned MCP Inspector CLI against the built server.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const block = /```sh inspector\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
const commands = block.split('\n').filter((l) => l.trim().length > 0);

describe('README: MCP Inspector commands', () => {
  it('run one after another, each exiting 0, and find the stored memory', { timeout: 600_000 }, () => {
    assert.equal(commands.length, 4, 'the README block holds the four commands');
    const demo = join(root, 'demo-memory');
    rmSync(demo, { recursive: true, force: true });
    try {
      const outputs = commands.map((cmd) => {
        const r = spawnSync('bash', ['-c', cmd], { cwd: root, encoding: 'utf8', timeout: 240_000 });
        assert.equal(r.status, 0, `${cmd}\n${r.stderr}`);
        return r.stdout;
      });
      const [list, store, search, status] = outputs as [string, string, string, string];
      assert.ok((JSON.parse(list) as { tools: { name: string }[] }).tools.some((t) => t.name === 'memory_search'));
      assert.equal((JSON.parse(store) as { structuredContent: { ids: string[] } }).structuredContent.ids.length, 1);
      const found = JSON.parse(search) as { structuredContent: { results: { text: string; tags: string[] }[] } };
      assert.equal(found.structuredContent.results[0]?.text, 'The build server is called hopper');
      assert.deepEqual(found.structuredContent.results[0]?.tags, ['infra']);
      const report = JSON.parse((JSON.parse(status) as { contents: { text: string }[] }).contents[0]!.text) as {
        store: { total: number };
      };
      assert.equal(report.store.total, 1);
    } finally {
      rmSync(demo, { recursive: true, force: true });
    }
  });

  it('--strict finds no tool-schema portability problem in tools/list', { timeout: 300_000 }, () => {
    // The version the README pins, in strict mode: any warning or error is printed on stderr as
    // `Warning: tool "..."` / `Error: tool "..."` with its path, then a count; nothing when clean.
    const pinned = /@modelcontextprotocol\/inspector@[\d.]+/.exec(block)?.[0];
    assert.ok(pinned, 'the README pins an Inspector version');
    const data = mkdtempSync(join(tmpdir(), 'vmm-strict-'));
    try {
      const r = spawnSync(
        'npx',
        ['-y', pinned, '--cli', '--strict', 'node', 'dist/cli.js', '--data-dir', data, '--method', 'tools/list'],
        { cwd: root, encoding: 'utf8', timeout: 240_000, env: { ...process.env, MEMORY_LOG_LEVEL: 'error' } },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.ok((JSON.parse(r.stdout) as { tools: unknown[] }).tools.length >= 5, 'tools/list answered');
      assert.doesNotMatch(r.stderr, /^(Warning|Error): tool|portability/m, r.stderr);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
