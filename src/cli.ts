#!/usr/bin/env node
// Command-line entry. FAISS's OpenMP and OpenBLAS threads read OMP_WAIT_POLICY when the native
// addon loads; left to spin ("active"), they fight each other on small machines (batched
// searches several times slower: see README's performance section). So it is set, unless the user chose, before
// anything imports faiss-node: the rest of the program is imported only after this line.
process.env['OMP_WAIT_POLICY'] ??= 'PASSIVE';
// OpenBLAS 0.3.21 (Debian bookworm's) joins its thread pool in a fork handler, and can wait there
// forever when a BLAS call runs in the FAISS worker at that moment; every IVF training and fill
// forks a child. Measured here: 5 of 5 runs hung within 30 forks with the pool, none with one
// thread (a bulk import's reshape froze the whole server). So this process keeps OpenBLAS to one
// thread, whatever was asked (batched searches of 100 queries at 100k: 94 instead of 70 ms on 2
// cores), and its training processes, which fork nothing, get the user's setting back.
process.env['VMM_CHILD_OPENBLAS_NUM_THREADS'] = process.env['OPENBLAS_NUM_THREADS'] ?? '';
process.env['OPENBLAS_NUM_THREADS'] = '1';

const { main } = await import('./cli/main.js');
const { errorMessage } = await import('./shared/errors.js');

main(process.argv.slice(2), process.env).catch((err: unknown) => {
  process.stderr.write(`vector-memory-mcp: fatal: ${errorMessage(err)}\n`);
  process.exit(1);
});
