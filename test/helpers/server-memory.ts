// The official knowledge-graph memory server (@modelcontextprotocol/server-memory), installed
// once from the npm registry into .cache/peer-memory (where the bench keeps it too).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SERVER_MEMORY = '@modelcontextprotocol/server-memory';
export const SERVER_MEMORY_VERSION = '2026.8.31';

export function serverMemoryEntry(): string {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const cache = join(root, '.cache', 'peer-memory');
  const entry = join(cache, 'node_modules', ...SERVER_MEMORY.split('/'), 'dist', 'index.js');
  if (existsSync(entry)) return entry;
  mkdirSync(cache, { recursive: true });
  writeFileSync(join(cache, 'package.json'), JSON.stringify({ name: 'peer-memory-cache', private: true }));
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', `${SERVER_MEMORY}@${SERVER_MEMORY_VERSION}`], {
    cwd: cache,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`could not install ${SERVER_MEMORY}: ${r.stderr}`);
  return entry;
}
