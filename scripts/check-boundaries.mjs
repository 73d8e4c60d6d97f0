#!/usr/bin/env node
// The architecture as a lint rule: external systems are reached only through their adapter
// module, and configuration is read only at the edge. Fails with the offending imports.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');

/** package -> the only files (relative to src/) allowed to import it */
const ADAPTERS = {
  'faiss-node': ['index/faiss/faiss-index.ts'],
  'better-sqlite3': ['store/sqlite/sqlite-store.ts'],
  falkordb: ['store/falkordb/connection.ts'],
  openai: ['embeddings/openai-provider.ts'],
};
/**
 * Project modules that load faiss-node -> the only files allowed to import them (type-only
 * imports excepted): faiss-node may be loaded by one thread per process, the FAISS worker's.
 */
const THREAD_BOUND = {
  'index/faiss/faiss-index.ts': ['index/faiss/faiss-thread.ts', 'index/ivf/ivf-worker.ts'],
};
/** files allowed to read process.env */
const ENV_READERS = ['cli.ts'];

const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.ts')) files.push(p);
  }
};
walk(src);

const problems = [];
for (const file of files) {
  const rel = relative(src, file).split('\\').join('/');
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]([^'"]+)['"]/g)) {
    const spec = m[1];
    const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
    const allowed = ADAPTERS[pkg];
    if (allowed && !allowed.includes(rel)) problems.push(`${rel}: imports ${pkg}; only ${allowed.join(', ')} may`);
  }
  for (const m of text.matchAll(/import\s+(type\s+)?[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    if (m[1]) continue;
    const target = join(dirname(file), m[2].replace(/\.js$/, '.ts'));
    const bound = THREAD_BOUND[relative(src, target).split('\\').join('/')];
    if (bound && !bound.includes(rel)) {
      problems.push(`${rel}: imports ${m[2]}, which loads faiss-node; only ${bound.join(', ')} may`);
    }
  }
  const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
  if (/process\.env\b/.test(code) && !ENV_READERS.includes(rel)) {
    problems.push(`${rel}: reads process.env; configuration is read once, in config.ts via cli.ts`);
  }
}
if (problems.length > 0) {
  process.stderr.write(`import boundaries violated:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`import boundaries ok (${files.length} files)\n`);
