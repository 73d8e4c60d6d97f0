// Kill -9 at random moments during a stream of stores, updates and deletes (and the snapshot
// writes they trigger), restart, and check: every acknowledged write is present and
// searchable, an unacknowledged batch is all there or not at all, and the index agrees with
// the store, and the store's counters equal a recount of its rows. Bounded in rounds and time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { countsOf } from './helpers/counts.js';
import { rng } from './helpers/vectors.js';
import { spawnServer, statusOf } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { output } from './helpers/tool-call.js';

const MAX_ROUNDS = 8;
const MAX_MS = 90_000;
const VOCAB = [
  'river',
  'copper',
  'lantern',
  'orchid',
  'falcon',
  'granite',
  'harvest',
  'island',
  'jasmine',
  'kettle',
  'lemon',
  'marble',
  'nutmeg',
  'olive',
  'pepper',
  'quartz',
  'raven',
  'saffron',
  'thistle',
  'umber',
  'violet',
  'walnut',
  'yarrow',
  'zephyr',
];

describe('crash safety', () => {
  it('loses no acknowledged write across kill -9 at random points', { timeout: 180_000 }, async (t) => {
    const dir = tempDir();
    const next = rng(20261121);
    const word = () => VOCAB[Math.floor(next() * VOCAB.length)]!;
    let counter = 0;
    const newText = () => `${word()} ${word()} ${word()} ${word()} unique${counter++}`;
    /** Acknowledged state: id -> text (present) or null (deleted). */
    const acked = new Map<string, string | null>();
    let ackedWrites = 0;
    let rounds = 0;
    let checked = 0;
    const started = Date.now();
    const env = { MEMORY_INDEX_PERSIST_DELAY_MS: '10' };

    while (rounds < MAX_ROUNDS && Date.now() - started < MAX_MS) {
      rounds++;
      const proc = await spawnServer(dir.path, env);
      const inFlight: { kind: 'store'; ids: string[] }[] = [];
      const uncertain = new Set<string>();
      let stop = false;
      const stream = (async () => {
        while (!stop) {
          const live = [...acked].filter(([, v]) => v !== null).map(([k]) => k);
          const r = next();
          if (r < 0.6 || live.length < 5) {
            const n = 1 + Math.floor(next() * 20);
            const items = Array.from({ length: n }, () => ({ id: `c${counter}`, text: newText() }));
            const op = { kind: 'store' as const, ids: items.map((i) => i.id) };
            inFlight.push(op);
            const res = await proc.call('memory_store', { items });
            if (res.isError) throw new Error(JSON.stringify(res.content));
            items.forEach((i) => acked.set(i.id, i.text));
            ackedWrites += n;
            inFlight.splice(inFlight.indexOf(op), 1);
          } else if (r < 0.8) {
            const id = live[Math.floor(next() * live.length)]!;
            const text = newText();
            uncertain.add(id);
            const res = await proc.call('memory_update', { id, text });
            if (res.isError) throw new Error(JSON.stringify(res.content));
            acked.set(id, text);
            ackedWrites++;
            uncertain.delete(id);
          } else {
            const id = live[Math.floor(next() * live.length)]!;
            uncertain.add(id);
            const res = await proc.call('memory_delete', { id });
            if (res.isError) throw new Error(JSON.stringify(res.content));
            acked.set(id, null);
            ackedWrites++;
            uncertain.delete(id);
          }
        }
      })().catch(() => undefined); // the kill makes the call in flight fail
      await new Promise((r) => setTimeout(r, 150 + Math.floor(next() * 600)));
      process.kill(proc.pid, 'SIGKILL');
      stop = true;
      await stream;
      await proc.close().catch(() => undefined);

      // Restart and check the invariant.
      const check = await spawnServer(dir.path);
      try {
        const ids = [...acked.keys()].filter((id) => !uncertain.has(id));
        const present = new Map<string, string>();
        for (let i = 0; i < ids.length; i += 250) {
          const r = await check.call('memory_get', { ids: ids.slice(i, i + 250) });
          // A batch whose ids are all missing is a NOT_FOUND error: nothing present.
          for (const m of (r.isError ? undefined : output('memory_get', r))?.memories ?? []) {
            present.set(m.id, m.text);
          }
        }
        for (const id of ids) {
          const want = acked.get(id);
          if (want === null) assert.ok(!present.has(id), `round ${rounds}: acknowledged delete of ${id} undone`);
          else assert.equal(present.get(id), want, `round ${rounds}: acknowledged write of ${id} lost or wrong`);
        }
        for (const op of inFlight) {
          const r = await check.call('memory_get', { ids: op.ids });
          const n = ((r.isError ? undefined : output('memory_get', r))?.memories ?? []).length;
          assert.ok(
            n === 0 || n === op.ids.length,
            `round ${rounds}: unacknowledged batch half-present (${n}/${op.ids.length})`,
          );
          if (n === op.ids.length) {
            const got = output('memory_get', r).memories;
            for (const m of got) acked.set(m.id, m.text); // it committed: it is now part of the state
          }
        }
        for (const id of uncertain) {
          const r = await check.call('memory_get', { id });
          const m = (r.isError ? undefined : output('memory_get', r))?.memories[0];
          if (m) acked.set(id, m.text);
          else acked.set(id, null);
        }
        // Searchable: a sample of live memories is each the best match for its own text.
        const live = [...acked].filter(([, v]) => v !== null) as [string, string][];
        for (const [id, text] of live.filter(() => next() < Math.min(1, 40 / Math.max(1, live.length)))) {
          const r = await check.call('memory_search', { query: text, k: 1 });
          assert.equal(output('memory_search', r).results[0]?.id, id, `round ${rounds}: ${id} not found by search`);
          checked++;
        }
        const s = await statusOf(check);
        assert.equal(s.index.live, s.store.done, `round ${rounds}: index and store disagree`);
        assert.equal(s.store.total, live.length, `round ${rounds}: store holds exactly the acknowledged memories`);
        const counts = countsOf(join(dir.path, 'memories.db'));
        assert.deepEqual(counts.counters, counts.recount, `round ${rounds}: counters equal a recount`);
      } finally {
        await check.close();
      }
    }
    const live = [...acked.values()].filter((v) => v !== null).length;
    t.diagnostic(
      `kill -9 rounds: ${rounds}; writes acknowledged: ${ackedWrites}; memories alive: ${live}, all found by get; searches checked: ${checked}`,
    );
    assert.ok(rounds >= 3, 'enough rounds ran');
    assert.ok(ackedWrites > 50, 'enough writes were acknowledged');
    dir.cleanup();
  });
});
