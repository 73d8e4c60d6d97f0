import { Worker, type WorkerOptions } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

/**
 * Starts the worker-thread module `name` (a sibling of the caller, without extension) from the
 * caller's `import.meta.url`: the built .js file, or under tsx (tests, bench) the .ts source,
 * which first registers tsx's loader, as worker threads on Node 20 do not inherit it.
 */
export function startWorker(callerUrl: string, name: string, options: WorkerOptions = {}): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(fileURLToPath(new URL(`./${name}.js`, callerUrl)), options);
  const source = new URL(`./${name}.ts`, callerUrl).href;
  return new Worker(
    `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
      `.then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`,
    { ...options, eval: true },
  );
}
