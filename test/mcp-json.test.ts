// mcp.json is documentation users copy: every entry names real settings, and the entries that
// need no key or server are started exactly as a client starts them (command, args, env), then
// answer tools/list and a search. The mcp-remote entry is run for real (npx -y mcp-remote@0.15.1)
// against our HTTP transport with a token; without the token it fails clearly.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { parseCommandLine } from '../src/config/command-line.js';
import { SETTING_LIST } from '../src/config/settings.js';
import { startHttpHarness } from './helpers/http-harness.js';
import { tempDir } from './helpers/tmp.js';
import { output } from './helpers/tool-call.js';
import { FakeOpenAI } from './helpers/fake-openai.js';
import { startFalkorDB, uniqueGraph } from './helpers/falkordb.js';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const PLACEHOLDER = '/absolute/path/to/vector-memory-mcp';
const TARBALL = '/absolute/path/to/vector-memory-mcp-0.1.0.tgz';
interface Entry {
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  url?: string;
  headers?: Record<string, string>;
}
const config = JSON.parse(readFileSync(join(root, 'mcp.json'), 'utf8')) as { mcpServers: Record<string, Entry> };
const entries = Object.entries(config.mcpServers);
const httpDefaults = (() => {
  const parsed = parseCommandLine(['--transport', 'http'], {});
  assert.equal(parsed.kind, 'run');
  const { host, port } = (parsed as { config: { host: string; port: number } }).config;
  return `http://${host}:${port}/mcp`;
})();
const isRemote = (e: Entry) => e.command === 'npx' && (e.args ?? []).some((a) => a.startsWith('mcp-remote@'));

/** A folder for PATH holding `vector-memory-mcp`, as `npm install -g` links it (to dist/cli.js). */
function installedBin(dir: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'vector-memory-mcp'), `#!/bin/sh\nexec "${process.execPath}" "${root}/dist/cli.js" "$@"\n`);
  chmodSync(join(bin, 'vector-memory-mcp'), 0o755);
  return bin;
}

/** Starts `entry` as a client does: its command, its args, its env over a minimal environment. */
async function connect(entry: Entry, home: string, pathDirs: string[], args = entry.args ?? []) {
  const transport = new StdioClientTransport({
    command: entry.command!,
    args,
    env: {
      HOME: home,
      PATH: [...pathDirs, process.env['PATH'] ?? ''].join(':'),
      // npx's package cache: the user's, so mcp-remote is downloaded once, not per test.
      npm_config_cache: join(homedir(), '.npm'),
      ...entry.env,
    },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const client = new Client({ name: 'mcp-json-test', version: '1' });
  await client.connect(transport);
  const call = async (name: string, a: Record<string, unknown>) =>
    (await client.callTool({ name, arguments: a })) as CallToolResult;
  return { client, call, stderr: () => stderr };
}

async function listStoreSearch(s: Awaited<ReturnType<typeof connect>>, text: string): Promise<void> {
  const { tools } = await s.client.listTools();
  assert.ok(tools.some((t) => t.name === 'memory_search'));
  output('memory_store', await s.call('memory_store', { text }));
  const found = output('memory_search', await s.call('memory_search', { query: text, k: 3 }));
  assert.equal(found.results[0]?.text, text);
}

describe('mcp.json', () => {
  it('has entries for the installed binary, npx, a clone, mcp-remote and URL clients, all with real settings', () => {
    const known = new Set(SETTING_LIST.map((s) => s.env));
    const commands = entries.map(([, e]) => e.command ?? 'url');
    for (const kind of ['vector-memory-mcp', 'npx', 'node', 'url']) assert.ok(commands.includes(kind), kind);
    for (const [name, entry] of entries) {
      if (entry.url !== undefined) {
        assert.match(name, /url-clients-only/, 'a url entry says it is for clients that take one');
        assert.equal(entry.url, httpDefaults, name);
        assert.match(entry.headers?.['Authorization'] ?? '', /^Bearer /, `${name} shows where the token goes`);
        continue;
      }
      if (isRemote(entry)) {
        assert.ok(entry.args!.includes(httpDefaults), name);
        assert.match(entry.env?.['AUTH_HEADER'] ?? '', /^Bearer /, name);
        continue;
      }
      if (entry.command === 'npx') assert.deepEqual(entry.args, ['-y', '--package', TARBALL, 'vector-memory-mcp']);
      else if (entry.command === 'node') assert.deepEqual(entry.args, [`${PLACEHOLDER}/dist/cli.js`], name);
      else assert.equal(entry.command, 'vector-memory-mcp', name);
      for (const key of Object.keys(entry.env ?? {})) assert.ok(known.has(key), `${name}: unknown setting ${key}`);
    }
  });

  it('starts each entry that needs no key or server as a client would: tools/list, store, search', async () => {
    const dir = tempDir();
    const bin = installedBin(dir.path);
    let started = 0;
    try {
      for (const [name, entry] of entries) {
        // The npx entry installs the tarball (test/package-install.test.ts covers that install).
        if (entry.url !== undefined || isRemote(entry) || entry.env !== undefined || entry.command === 'npx') continue;
        const home = join(dir.path, name);
        mkdirSync(home);
        const s = await connect(
          entry,
          home,
          [bin],
          (entry.args ?? []).map((a) => a.replace(PLACEHOLDER, root)),
        );
        try {
          await listStoreSearch(s, `${name} keeps the build server name hopper`);
          started++;
        } finally {
          await s.client.close();
        }
      }
      assert.equal(started, 2, 'the installed-binary and clone entries');
    } finally {
      dir.cleanup();
    }
  });

  it('starts each entry with settings as a client would, its endpoints pointed at local servers', async () => {
    const dir = tempDir();
    const bin = installedBin(dir.path);
    const api = await new FakeOpenAI().start();
    const falkor = await startFalkorDB();
    let started = 0;
    try {
      for (const [name, entry] of entries) {
        if (entry.url !== undefined || isRemote(entry) || entry.env === undefined) continue;
        // Only the endpoints change: OpenAI's API and a FalkorDB at 127.0.0.1:6379 are not here.
        const env: Record<string, string> = { ...entry.env, OPENAI_BASE_URL: api.url };
        if (env['FALKORDB_URL'] !== undefined) {
          env['FALKORDB_URL'] = falkor.url;
          env['FALKORDB_GRAPH'] = uniqueGraph('mcpjson');
        }
        const home = join(dir.path, name);
        mkdirSync(home);
        const s = await connect({ ...entry, env }, home, [bin]);
        try {
          await listStoreSearch(s, `${name} keeps the build server name hopper`);
          started++;
        } finally {
          await s.client.close();
        }
      }
      assert.equal(started, 3, 'the OpenAI, OpenAI + FalkorDB and Ollama entries');
      assert.ok(api.requests.length >= 6, 'their embeddings came from the provider');
      assert.deepEqual(api.unexpected, []);
    } finally {
      await api.stop();
      await falkor.stop();
      dir.cleanup();
    }
  });

  it(
    'mcp-remote@0.15.1 bridges a stdio client to the HTTP transport with the token; without it, a clear failure',
    {
      timeout: 300_000,
    },
    async () => {
      const [, entry] = entries.find(([, e]) => isRemote(e))!;
      const dir = tempDir();
      const token = 'mcp-json-test-token';
      const h = await startHttpHarness(dir.path, ['--http-token', token]);
      try {
        const args = entry.args!.map((a) => (a === httpDefaults ? `${h.http.url}/mcp` : a));
        const s = await connect({ ...entry, env: { AUTH_HEADER: `Bearer ${token}` } }, dir.path, [], args);
        try {
          await listStoreSearch(s, 'the remote build server is called hopper');
        } finally {
          await s.client.close();
        }
        assert.deepEqual(
          h.logs.filter((l) => /HTTP request refused/.test(l)),
          [],
          'no refused probes with the token',
        );
        // Without the header: mcp-remote gets 401 and no OAuth metadata (404), tries to register
        // an OAuth client, and reports our refusal ("a valid bearer token is required").
        const bare = args.slice(0, args.indexOf('--header'));
        const transport = new StdioClientTransport({
          command: 'npx',
          args: bare,
          env: { HOME: dir.path, PATH: process.env['PATH'] ?? '', npm_config_cache: join(homedir(), '.npm') },
          stderr: 'pipe',
        });
        let stderr = '';
        transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
        const client = new Client({ name: 'mcp-json-test', version: '1' });
        const outcome = client.connect(transport).then(
          () => 'connected',
          (err: unknown) => `failed: ${String(err)}`,
        );
        const deadline = Date.now() + 60_000;
        while (!/a valid bearer token is required/.test(stderr) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
        }
        await transport.close();
        assert.notEqual(await outcome, 'connected', 'no session without the token');
        assert.match(stderr, /401[\s\S]*a valid bearer token is required/, 'mcp-remote shows why');
        assert.ok(
          h.logs.some((l) => /HTTP request refused.*401/.test(l)),
          'the server refused it with 401',
        );
      } finally {
        await h.close();
        dir.cleanup();
      }
    },
  );
});
