// The word-vector build thread (started by word-vectors-cache.ts): reads the package, writes the
// cache, and hands the vectors back (the matrix transferred, not copied). Its heap, with the
// 307 MB file and the parse's scratch, goes away with the thread.
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../shared/errors.js';
import { buildCache, type BuildReply, type BuildRequest } from './word-vectors-cache.js';

let reply: BuildReply;
try {
  reply = buildCache(workerData as BuildRequest);
} catch (err) {
  reply = { ok: false, error: errorMessage(err) };
}
parentPort?.postMessage(reply, reply.ok ? [reply.codes.buffer as ArrayBuffer, reply.scales.buffer as ArrayBuffer] : []);
