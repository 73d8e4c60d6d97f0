// The word-vector build thread (started by word-vectors-cache.ts): reads the package and hands
// the vectors back (copies transferred, not cloned), then writes the cache file and says so.
// Its heap, with the 307 MB file and the parse's scratch, goes away with the thread.
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../shared/errors.js';
import {
  buildVectors,
  writeCache,
  type BuildReply,
  type BuildRequest,
  type WrittenReply,
} from './word-vectors-cache.js';
import { WordIndex } from './word-index.js';

const request = workerData as BuildRequest;
try {
  const built = await buildVectors(request);
  // Copies for the server's thread (shared memory cannot be transferred); the originals are written.
  const codes = built.codes.slice();
  const scales = built.scales.slice();
  // The word index too: hashing 341k words would otherwise hold the server's thread ~60 ms.
  const index = new WordIndex(built.words).tables();
  const reply: BuildReply = { ok: true, ...built, codes, scales, index };
  parentPort?.postMessage(reply, [
    codes.buffer,
    scales.buffer,
    index.starts.buffer as ArrayBuffer,
    index.slots.buffer as ArrayBuffer,
  ]);
  const error = writeCache(request, built);
  const written: WrittenReply = error === undefined ? { written: true } : { written: true, error };
  parentPort?.postMessage(written);
} catch (err) {
  const reply: BuildReply = { ok: false, error: errorMessage(err) };
  parentPort?.postMessage(reply);
}
