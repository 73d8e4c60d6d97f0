// The FAISS worker thread: the one place in the process where faiss-node is loaded and called.
// It holds every index of the process by handle and runs requests in arrival order, so what the
// main thread posted first is applied first (a search posted after an add sees the add).
//
// faiss-node must be loaded by one thread only: it keeps its class constructors in process-wide
// statics, so a second thread loading it breaks the factories of the first (a segfault, measured
// here). The main thread never imports it; faiss-host.ts is its side of this conversation.
import { closeSync, fstatSync, openSync, rmSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { FaissIndex, loadFaiss } from './faiss-index.js';
import { fdPath } from './proc-fd.js';
import type { HostReply, HostRequest, IndexMeta } from './faiss-host.js';

const indexes = new Map<number, FaissIndex>();

// faiss-node frees an index's memory when its wrapper is collected, and V8 does not know how
// much native memory a wrapper holds: after freeing a large index, collect now.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const COLLECT_AFTER_FLOATS = 4_000_000;
// A bulk add reads each part into a faiss index of its own and merges it in; the emptied part
// keeps its buffers until its wrapper is collected.
const COLLECT_AFTER_ADDED_FLOATS = 64_000_000;
let addedSinceCollect = 0;

function meta(index: FaissIndex): IndexMeta {
  return { size: index.size, ...index.shape() };
}

function get(handle: number): FaissIndex {
  const index = indexes.get(handle);
  if (!index) throw new Error(`no index with handle ${handle} in the FAISS worker (freed, or the worker restarted)`);
  return index;
}

/** Row views of a row-major block of vectors. */
function rows(data: Float32Array, dimension: number): Float32Array[] {
  if (data.length % dimension !== 0) throw new RangeError(`${data.length} floats are not rows of ${dimension}`);
  return Array.from({ length: data.length / dimension }, (_, i) => data.subarray(i * dimension, (i + 1) * dimension));
}

function handle(req: HostRequest): unknown {
  switch (req.op) {
    case 'probe':
      loadFaiss();
      return null;
    case 'flat': {
      const index = FaissIndex.flat(req.dimension);
      indexes.set(req.handle, index);
      return meta(index);
    }
    case 'read': {
      const index = FaissIndex.readFile(req.path, req.dimension);
      indexes.set(req.handle, index);
      return meta(index);
    }
    case 'add': {
      const index = get(req.handle);
      index.addRows(req.data);
      addedSinceCollect += req.data.length;
      if (addedSinceCollect >= COLLECT_AFTER_ADDED_FLOATS) {
        addedSinceCollect = 0;
        collect();
      }
      return meta(index);
    }
    case 'merge': {
      const index = get(req.handle);
      const added = index.mergeFile(req.path);
      return { added, ...meta(index) };
    }
    case 'search': {
      const index = get(req.handle);
      return index.search(rows(req.data, index.dimension), req.k);
    }
    case 'remove':
      return get(req.handle).remove(req.labels);
    case 'write': {
      const index = get(req.handle);
      // Our own open first: a missing folder fails here, catchably, never inside faiss.
      const fd = openSync(req.path, 'wx', 0o600);
      try {
        index.writeFile(fdPath(fd, req.path));
        return fstatSync(fd).size;
      } catch (err) {
        rmSync(req.path, { force: true });
        throw err;
      } finally {
        closeSync(fd);
      }
    }
    case 'count':
      return meta(get(req.handle));
    case 'free': {
      const index = indexes.get(req.handle);
      indexes.delete(req.handle);
      if (index && index.size * index.dimension >= COLLECT_AFTER_FLOATS) collect();
      return null;
    }
  }
}

parentPort!.on('message', (req: HostRequest) => {
  let reply: HostReply;
  try {
    reply = { id: req.id, ok: true, value: handle(req) };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply = { id: req.id, ok: false, error: e.message, name: e.name };
  }
  parentPort!.postMessage(reply);
});
