// mcp.json is documentation users copy: check that every entry names real settings and that
// the embedded one, pointed at this checkout, starts and answers the handshake.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { parseCommandLine } from '../src/config/command-line.js';
import { SETTING_LIST } from '../src/config/settings.js';
import { tempDir } from './helpers/tmp.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const PLACEHOLDER = '/absolute/path/to/vector-memory-mcp';
interface Entry {
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  url?: string;
  headers?: Record<string, string>;
}
const config = JSON.parse(readFileSync(join(root, 'mcp.json'), 'utf8')) as { mcpServers: Record<string, Entry> };

describe('mcp.json', () => {
  it('has entries whose settings all exist', () => {
    const known = new Set(SETTING_LIST.map((s) => s.env));
    assert.ok(Object.keys(config.mcpServers).length >= 2);
    for (const [name, entry] of Object.entries(config.mcpServers)) {
      if (entry.url !== undefined) {
        // Clients that connect by URL: the default HTTP endpoint of `--transport http`.
        const defaults = parseCommandLine(['--transport', 'http'], {});
        assert.equal(defaults.kind, 'run');
        const { host, port } = (defaults as { config: { host: string; port: number } }).config;
        assert.equal(entry.url, `http://${host}:${port}/mcp`, name);
        assert.match(entry.headers?.['Authorization'] ?? '', /^Bearer /, `${name} shows where the token goes`);
        continue;
      }
      assert.equal(entry.command, 'node', name);
      assert.deepEqual(entry.args, [`${PLACEHOLDER}/dist/cli.js`], name);
      for (const key of Object.keys(entry.env ?? {})) assert.ok(known.has(key), `${name}: unknown setting ${key}`);
    }
  });

  it('starts the embedded-defaults entry and lists the tools', async () => {
    const entry = config.mcpServers['vector-memory']!;
    assert.equal(entry.env, undefined, 'the default entry needs no keys and no servers');
    const dir = tempDir();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: entry.args!.map((a) => a.replace(PLACEHOLDER, root.replace(/\/$/, ''))),
      env: { HOME: dir.path, PATH: process.env['PATH'] ?? '' },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'mcp-json-test', version: '1' });
    await client.connect(transport);
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'memory_search'));
    await client.close();
    dir.cleanup();
  });
});
