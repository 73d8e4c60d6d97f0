// Where the package's own files are. The built server is bundled (scripts/bundle.mjs): a module's
// `import.meta.url` may be the bundle's, not its own file's, so paths are found from the package
// root, the nearest folder above holding this package's package.json, never relative to a module.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NAME = 'vector-memory-mcp';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === NAME) return dir;
      } catch {
        // not ours: keep looking
      }
    }
    if (dirname(dir) === dir) throw new Error(`${NAME}: no package.json of ${NAME} above ${from}`);
  }
}

/** The package's root folder (holding package.json, dist/, native/, scripts/). */
export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** Running from the TypeScript sources under tsx (tests, bench) rather than the built files. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** A module of ours by its path under src/ without extension ('index/faiss/faiss-thread'): its file. */
export function ownModule(path: string): string {
  return FROM_SOURCE ? join(PACKAGE_ROOT, 'src', `${path}.ts`) : join(PACKAGE_ROOT, 'dist', `${path}.js`);
}
