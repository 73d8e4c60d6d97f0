#!/usr/bin/env node
// Bundles the built entry point dist/cli.js (tsc's output) into itself, with the MCP SDK and zod:
// Node's ES module loader then reads a handful of files at start instead of about 330 (our
// modules, the SDK's, zod's), which is most of the time to `initialize` (README, "Performance").
// What only some commands or transports use (HTTP, export, import, backfill) stays in chunks
// loaded on first use. Native, optional and lazily loaded packages stay external, and worker
// threads and child processes start tsc's own files (src/shared/package-root.ts finds them).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const BUNDLED = new Set(['@modelcontextprotocol/sdk', 'zod']);
const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]
  .filter((name) => !BUNDLED.has(name))
  .flatMap((name) => [name, `${name}/*`]);

await build({
  entryPoints: [join(root, 'dist', 'cli.js')],
  outdir: join(root, 'dist'),
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  external: [...external, 'tsx', 'tsx/*'],
  // CommonJS code inside the bundle (the SDK's HTTP dependencies) calls require.
  banner: {
    js: "import { createRequire as __vmmRequire } from 'node:module'; const require = __vmmRequire(import.meta.url);",
  },
  sourcemap: true,
  logLevel: 'warning',
});
