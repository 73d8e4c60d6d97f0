// A helper thread of the word-vector build (word-vectors-cache.ts): scans a byte range of the
// package's JSON, or finishes a range of rows, in memory shared with the build thread.
import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../shared/errors.js';
import { finishRows, type PartReply, type PartRequest } from './word-vectors-cache.js';
import { scanVectors } from './wink-json.js';

parentPort?.on('message', (m: PartRequest) => {
  let reply: PartReply;
  try {
    if (m.op === 'scan') {
      // Rows in shared memory: the build thread reads them, and this thread finishes them later.
      const shared = (n: number) => new Float32Array(new SharedArrayBuffer(n * 4));
      reply = { ok: true, part: scanVectors(Buffer.from(m.file), m.from, m.dim, m.stopAt ?? Infinity, m.hint, shared) };
    } else {
      finishRows(m.matrix, m.dim, m.pc, m.codes, m.scales);
      reply = { ok: true };
    }
  } catch (err) {
    reply = { ok: false, error: errorMessage(err) };
  }
  parentPort?.postMessage(reply);
});
