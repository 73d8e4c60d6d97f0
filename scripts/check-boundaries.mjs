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
  'prom-client': ['health/metrics.ts'],
};
/**
 * Project modules that load faiss-node -> the only files allowed to import them (type-only
 * imports excepted): faiss-node may be loaded by one thread per process, the FAISS worker's.
 */
const THREAD_BOUND = {
  'index/faiss/faiss-index.ts': ['index/faiss/faiss-thread.ts', 'index/ivf/ivf-worker.ts'],
};
/** files allowed to read process.env: the entry points (the server's, and its IVF child process's) */
const ENV_READERS = ['cli.ts', 'index/ivf/ivf-worker.ts'];
/**
 * The layers (folders of src/) and the layers each may import values from; type-only imports
 * are free. Lower layers never reach up: the store knows nothing of the index, the service
 * nothing of MCP. app.ts (the composition root) and cli.ts may import anything.
 */
const LAYERS = {
  shared: [],
  config: ['shared'],
  store: ['shared'],
  embeddings: ['shared', 'config'],
  index: ['shared'],
  memory: ['shared', 'store'],
  backfill: ['shared', 'embeddings'],
  health: ['shared', 'embeddings', 'index', 'memory'],
  tools: ['shared', 'health', 'backfill'],
  server: ['shared', 'tools', 'health'],
  transports: ['shared', 'server', 'health'],
  cli: ['shared', 'config', 'memory', 'health', 'transports', 'root'],
};
const layerOf = (rel) => (rel.includes('/') ? rel.split('/')[0] : 'root');

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
  // Type-only imports load nothing: `import type X from 'pkg'` is free.
  const values = text.replace(/import\s+type\s[^;]*;/g, '');
  for (const m of values.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]([^'"]+)['"]/g)) {
    const spec = m[1];
    const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
    const allowed = ADAPTERS[pkg];
    if (allowed && !allowed.includes(rel)) problems.push(`${rel}: imports ${pkg}; only ${allowed.join(', ')} may`);
  }
  for (const m of text.matchAll(/import\s+(type\s+)?[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    if (m[1]) continue;
    const target = relative(src, join(dirname(file), m[2].replace(/\.js$/, '.ts')))
      .split('\\')
      .join('/');
    const bound = THREAD_BOUND[target];
    if (bound && !bound.includes(rel)) {
      problems.push(`${rel}: imports ${m[2]}, which loads faiss-node; only ${bound.join(', ')} may`);
    }
    const from = layerOf(rel);
    const to = layerOf(target);
    if (from !== 'root' && from !== to && !LAYERS[from]?.includes(to)) {
      problems.push(
        `${rel}: the ${from} layer imports ${target} (${to}); it may import from ${LAYERS[from]?.join(', ') || 'nothing else'}`,
      );
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
