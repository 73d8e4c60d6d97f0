#!/usr/bin/env node
// Command-line entry. FAISS's OpenMP and OpenBLAS threads read OMP_WAIT_POLICY when the native
// addon loads; left to spin ("active"), they fight each other on small machines (batched
// searches several times slower: see README's performance section). So it is set, unless the user chose, before
// anything imports faiss-node: the rest of the program is imported only after this line.
process.env['OMP_WAIT_POLICY'] ??= 'PASSIVE';

const { main } = await import('./cli/main.js');
const { errorMessage } = await import('./shared/errors.js');

main(process.argv.slice(2), process.env).catch((err: unknown) => {
  process.stderr.write(`vector-memory-mcp: fatal: ${errorMessage(err)}\n`);
  process.exit(1);
});
