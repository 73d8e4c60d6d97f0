import { after, before } from 'node:test';
import { silentLogger } from '../src/shared/logger.js';
import { FalkorDBStore } from '../src/store/falkordb/falkordb-store.js';
import { startFalkorDB, uniqueGraph, type FalkorServer } from './helpers/falkordb.js';
import { storeContract } from './helpers/store-contract.js';

let server: FalkorServer;
before(async () => {
  server = await startFalkorDB();
});
after(async () => {
  await server.stop();
});

storeContract('falkordb', async () => {
  const graph = uniqueGraph('contract');
  const make = () =>
    new FalkorDBStore({ url: server.url, graph, label: 'Memory', logger: silentLogger, timeoutMs: 5000 });
  let store = make();
  await store.open();
  return {
    store,
    async reopen() {
      await store.close();
      store = make();
      await store.open();
      return store;
    },
    async cleanup() {
      await store.close();
    },
  };
});
