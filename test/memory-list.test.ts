// memory_list and the time filters through the real protocol, on both stores: keyset pages that
// hold every memory exactly once while others are written and deleted, cursors bound to their
// arguments, and time bounds applied in listing and in both search channels.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseTime } from '../src/memory/time-filter.js';
import { onBothStores } from './helpers/falkordb.js';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';
import { callOk } from './helpers/tool-call.js';

const BATCH = 100;

function suite(name: string, env: () => Record<string, string>): void {
  describe(`memory_list (${name})`, () => {
    let h: Harness;
    let dir: ReturnType<typeof tempDir>;
    before(async () => {
      dir = tempDir();
      h = await startHarness(testConfig(dir.path, { BACKFILL_INTERVAL_MS: '0', ...env() }));
      await h.app.service.ready();
    });
    after(async () => {
      await h.close();
      dir.cleanup();
    });

    it('pages 260 memories exactly once each while others are written and deleted', async () => {
      const ids: string[] = [];
      for (let b = 0; b < 3; b++) {
        const n = b < 2 ? BATCH : 60;
        const items = Array.from({ length: n }, (_, i) => ({
          id: `p-${b}-${String(i).padStart(3, '0')}`,
          text: `paged note ${b} ${i} about the archive`,
          namespace: 'paging',
          tags: i % 2 === 0 ? ['even'] : ['odd'],
        }));
        await callOk(h, 'memory_store', { items });
        ids.push(...items.map((x) => x.id));
      }
      for (const order of ['newest', 'oldest'] as const) {
        const atStart = ids.length;
        const seen: string[] = [];
        const deleted = new Set<string>();
        let cursor: string | undefined;
        let pages = 0;
        let total: number | undefined;
        do {
          const page = await callOk(h, 'memory_list', {
            namespace: 'paging',
            order,
            limit: 37,
            ...(cursor !== undefined ? { cursor } : {}),
          });
          total ??= page.total;
          seen.push(...page.memories.map((m) => m.id));
          cursor = page.next_cursor ?? undefined;
          pages++;
          // Between pages: a new memory (after the start, so not owed to this listing) and a
          // deletion of one not seen yet.
          await callOk(h, 'memory_store', { text: `written while paging ${order} ${pages}`, namespace: 'paging' });
          const unseen = ids.find((id) => !seen.includes(id) && !deleted.has(id));
          if (unseen && pages % 2 === 0) {
            await callOk(h, 'memory_delete', { ids: [unseen] });
            deleted.add(unseen);
          }
        } while (cursor !== undefined && pages < 50);
        assert.equal(total, atStart, `${order}: total when paging began`);
        assert.equal(new Set(seen).size, seen.length, `${order}: no memory twice`);
        const owed = ids.filter((id) => !deleted.has(id));
        for (const id of owed) assert.ok(seen.includes(id), `${order}: ${id} listed`);
        if (order === 'oldest') {
          // Memories written while paging oldest-first come after the cursor: they are listed too.
          assert.ok(
            seen.some((id) => !ids.includes(id)),
            'oldest first reaches memories written meanwhile',
          );
        }
        ids.splice(0, ids.length, ...owed);
        // Every memory written while paging is in namespace "paging": remove them for the next order.
        const extra = await callOk(h, 'memory_list', { namespace: 'paging', limit: 100 });
        const strays = extra.memories.map((m) => m.id).filter((id) => !ids.includes(id));
        if (strays.length > 0) await callOk(h, 'memory_delete', { ids: strays });
      }
      const newest = await callOk(h, 'memory_list', { namespace: 'paging', limit: 3 });
      assert.deepEqual(
        newest.memories.map((m) => m.created_at),
        [...newest.memories.map((m) => m.created_at)].sort().reverse(),
        'newest first',
      );
      const even = await callOk(h, 'memory_list', { namespace: 'paging', tags: ['even'], limit: 100 });
      assert.ok(even.memories.every((m) => m.tags.includes('even')));
      assert.equal(even.total, ids.filter((id) => Number(id.split('-')[2]) % 2 === 0).length, 'total within the tags');
    });

    it('refuses a cursor that is forged, truncated or used with other arguments', async () => {
      const first = await callOk(h, 'memory_list', { namespace: 'paging', limit: 5 });
      assert.ok(first.next_cursor);
      const other = await h.call('memory_list', { namespace: 'elsewhere', limit: 5, cursor: first.next_cursor });
      assert.equal(other.isError, true);
      assert.match(textOf(other), /cursor/);
      const cut = await h.call('memory_list', { namespace: 'paging', cursor: first.next_cursor.slice(0, -3) });
      assert.equal(cut.isError, true);
      assert.match(textOf(cut), /cursor/);
      const forged = await h.call('memory_list', { namespace: 'paging', cursor: 'eyJ2IjoxfQ.abc' });
      assert.equal(forged.isError, true);
      const same = await callOk(h, 'memory_list', { namespace: 'paging', limit: 7, cursor: first.next_cursor });
      assert.equal(same.memories.length, 7, 'another page size with the same filters is fine');
      const big = await h.call('memory_list', { limit: 1000 });
      assert.equal(big.isError, true);
      assert.match(textOf(big), /limit/);
    });

    it('applies each time filter to listing and to both search channels', async () => {
      const early = ['t-early-1', 't-early-2'];
      await callOk(h, 'memory_store', {
        items: early.map((id) => ({ id, text: `the quarterly report about lighthouses ${id}`, namespace: 'times' })),
      });
      await sleep(30);
      const mid = new Date().toISOString();
      await sleep(30);
      const late = ['t-late-1', 't-late-2'];
      await callOk(h, 'memory_store', {
        items: late.map((id) => ({ id, text: `the quarterly report about lighthouses ${id}`, namespace: 'times' })),
      });
      await sleep(30);
      const beforeUpdate = new Date().toISOString();
      await sleep(30);
      await callOk(h, 'memory_update', { id: 't-early-1', tags: ['touched'] });

      const listed = async (args: Record<string, string>) =>
        (await callOk(h, 'memory_list', { namespace: 'times', ...args })).memories.map((m) => m.id).sort();
      assert.deepEqual(await listed({ created_after: mid }), late);
      assert.deepEqual(await listed({ created_before: mid }), early);
      assert.deepEqual(await listed({ updated_after: beforeUpdate }), ['t-early-1']);
      assert.deepEqual(await listed({ updated_before: beforeUpdate }), ['t-early-2', ...late].sort());
      assert.deepEqual(await listed({ created_after: '1h' }), [...early, ...late].sort(), 'relative: the last hour');
      assert.deepEqual(await listed({ created_after: '2999-01-01' }), []);

      for (const mode of ['hybrid', 'semantic', 'keyword'] as const) {
        const found = async (args: Record<string, string>) =>
          (
            await callOk(h, 'memory_search', {
              query: 'quarterly report lighthouses',
              namespace: 'times',
              mode,
              ...args,
            })
          ).results
            .map((r) => r.id)
            .sort();
        assert.deepEqual(await found({ created_after: mid }), late, `${mode}: created_after`);
        assert.deepEqual(await found({ created_before: mid }), early, `${mode}: created_before`);
        assert.deepEqual(await found({ updated_after: beforeUpdate }), ['t-early-1'], `${mode}: updated_after`);
      }
      const bad = await h.call('memory_search', { query: 'x', created_after: 'last tuesday' });
      assert.equal(bad.isError, true);
      assert.match(textOf(bad), /created_after.*ISO 8601.*24h/s);
      const badList = await h.call('memory_list', { updated_before: '2026-13-45' });
      assert.equal(badList.isError, true);
      assert.match(textOf(badList), /updated_before/);
    });
  });
}

describe('time bounds as a model writes them', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  it('reads durations back from now and ISO 8601 times, and refuses anything else', () => {
    assert.equal(parseTime('90m', 'x', now), '2026-12-02T10:30:00.000Z');
    assert.equal(parseTime('24h', 'x', now), '2026-12-01T12:00:00.000Z');
    assert.equal(parseTime('7d', 'x', now), '2026-11-25T12:00:00.000Z');
    assert.equal(parseTime('2w', 'x', now), '2026-11-18T12:00:00.000Z');
    assert.equal(parseTime('2026-11-30', 'x', now), '2026-11-30T00:00:00.000Z');
    assert.equal(parseTime('2026-11-30T14:00:00+02:00', 'x', now), '2026-11-30T12:00:00.000Z');
    for (const bad of ['yesterday', '7 days', '-1d', '2026/11/30', '', '1y']) {
      assert.throws(() => parseTime(bad, 'created_after', now), /created_after must be an ISO 8601 time/, bad);
    }
  });
});

onBothStores('list', suite);
