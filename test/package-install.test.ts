// The package as users get it: `npm pack`, then `npm install -g` of the tarball into a temporary
// prefix, then a stdio session through the installed `vector-memory-mcp` binary. npm deletes an
// optional dependency whose own install script failed (faiss-node without a prebuilt binary) at
// the end of such an install, so this checks that semantic search works after it, and that a
// missing faiss-node is reported as such, with a fix that works.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { tempDir } from './helpers/tmp.js';
import { output } from './helpers/tool-call.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

function text(r: CallToolResult): string {
  const first = r.content[0];
  return first && first.type === 'text' ? first.text : '';
}

describe('packaged install (npm pack, npm install -g of the tarball)', { timeout: 1_200_000 }, () => {
  let work: ReturnType<typeof tempDir>;
  let prefix: string;
  let bin: string;
  let pkg: string;
  const env = () => ({ PATH: `${join(prefix, 'bin')}:${process.env['PATH'] ?? ''}`, HOME: work.path });

  before(() => {
    work = tempDir('vmm-pack-');
    assert.ok(existsSync(join(root, 'dist', 'cli.js')), 'run `npm run build` first (npm test does)');
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work.path], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(pack.status, 0, pack.stderr);
    const tarball = readdirSync(work.path).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    // What it ships: the program and the faiss-node build script, no source maps (their sources
    // are not in the package), no tests or source.
    const list = spawnSync('tar', ['tzf', join(work.path, tarball)], { encoding: 'utf8' }).stdout.split('\n');
    for (const f of ['dist/cli.js', 'scripts/install-faiss.mjs', 'scripts/faiss-compat.h', 'mcp.json', 'README.md']) {
      assert.ok(list.includes(`package/${f}`), `the tarball ships ${f}`);
    }
    assert.deepEqual(
      list.filter((f) => /\.map$|^package\/(src|test|native)\//.test(f)),
      [],
      'no source maps, sources, tests or native builds',
    );
    prefix = join(work.path, 'prefix');
    const install = spawnSync(
      'npm',
      ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', join(work.path, tarball)],
      { cwd: work.path, encoding: 'utf8', timeout: 900_000, env: { ...process.env, npm_config_loglevel: 'warn' } },
    );
    assert.equal(install.status, 0, `npm install -g failed:\n${install.stdout}\n${install.stderr}`);
    bin = join(prefix, 'bin', 'vector-memory-mcp');
    pkg = join(prefix, 'lib', 'node_modules', 'vector-memory-mcp');
    assert.ok(existsSync(bin), 'the install put the binary on the prefix');
  });
  after(() => work?.cleanup());

  async function session(dataDir: string) {
    const transport = new StdioClientTransport({
      command: bin,
      args: ['--data-dir', dataDir],
      env: env(),
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const client = new Client({ name: 'package-install-test', version: '1' });
    await client.connect(transport);
    const call = async (name: string, args: Record<string, unknown>) =>
      (await client.callTool({ name, arguments: args })) as CallToolResult;
    return { client, call, stderr: () => stderr };
  }

  it('prints its version', () => {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', env: env() });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
  });

  it('stores and finds a memory by semantic search through the installed binary', async () => {
    const s = await session(join(work.path, 'data'));
    try {
      const stored = output(
        'memory_store',
        await s.call('memory_store', { text: 'The build server is called hopper' }),
      );
      assert.equal(stored.ids.length, 1);
      // semantic only: a hybrid search would still answer from the keyword channel without FAISS.
      const found = output(
        'memory_search',
        await s.call('memory_search', { query: 'build server hopper', mode: 'semantic', k: 3 }),
      );
      assert.equal(found.results[0]?.text, 'The build server is called hopper');
      const health = output('index_health', await s.call('index_health', {}));
      assert.ok(!health.reasons.some((r) => r.code === 'index_unavailable'), JSON.stringify(health.reasons));
    } finally {
      await s.client.close();
    }
  });

  it('reports a missing faiss-node once, naming the fix, and the fix works', async () => {
    // Take every faiss-node away from the installed package: npm's and the one built into it.
    const built = join(pkg, 'native', 'faiss-node');
    const hadBuilt = existsSync(built);
    rmSync(built, { recursive: true, force: true });
    rmSync(join(pkg, 'node_modules', 'faiss-node'), { recursive: true, force: true });
    const s = await session(join(work.path, 'data'));
    try {
      const search = await s.call('memory_search', { query: 'build server', mode: 'semantic' });
      assert.equal(search.isError, true);
      assert.match(text(search), /faiss-node is not installed or does not load/);
      assert.match(text(search), /install-faiss\.mjs/);
      assert.doesNotMatch(text(search), /rebuil/, 'a rebuild cannot help');
      const hybrid = output('memory_search', await s.call('memory_search', { query: 'hopper' }));
      assert.equal(hybrid.results[0]?.text, 'The build server is called hopper', 'keyword search still answers');
      const health = output('index_health', await s.call('index_health', {}));
      assert.equal(health.status, 'failing');
      const reason = health.reasons.find((r) => r.code === 'index_unavailable');
      assert.match(reason?.message ?? '', /faiss-node is not installed or does not load.*install-faiss\.mjs/);
      const errors = s
        .stderr()
        .split('\n')
        .filter((l) => /faiss-node is not installed/.test(l));
      assert.ok(errors.length >= 1, s.stderr());
      assert.doesNotMatch(s.stderr(), /must be rebuilt|rebuilding the search index/);
    } finally {
      await s.client.close();
    }
    // The fix the message names: the package's install script, run by hand.
    const fix = spawnSync(process.execPath, [join(pkg, 'scripts', 'install-faiss.mjs')], {
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, ...env() },
    });
    assert.equal(fix.status, 0, fix.stderr);
    if (hadBuilt) assert.ok(existsSync(join(built, 'build', 'Release', 'faiss-node.node')));
    const again = await session(join(work.path, 'data'));
    try {
      const found = output(
        'memory_search',
        await again.call('memory_search', { query: 'build server', mode: 'semantic' }),
      );
      assert.equal(found.results[0]?.text, 'The build server is called hopper');
    } finally {
      await again.client.close();
    }
  });
});
