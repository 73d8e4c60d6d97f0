import { Worker, type WorkerOptions } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { FROM_SOURCE, ownModule } from './package-root.js';

/**
 * Starts our worker-thread module `path` (under src/, without extension: 'index/faiss/faiss-thread'):
 * the built .js file, or under tsx (tests, bench) the .ts source, which first registers tsx's
 * loader, as worker threads on Node 20 do not inherit it.
 */
export function startWorker(path: string, options: WorkerOptions = {}): Worker {
  const file = ownModule(path);
  if (!FROM_SOURCE) return new Worker(file, options);
  return new Worker(
    `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
      `.then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); })`,
    { ...options, eval: true },
  );
}
