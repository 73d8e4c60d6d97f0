// Hybrid search through the real protocol on both stores: identifiers, hostnames and names come
// first, every filter applies to both channels, each result says why it came back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { onBothStores } from './helpers/falkordb.js';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';
import { callOk } from './helpers/tool-call.js';

const MEMORIES = [
  { id: 't1', text: 'The billing service bug is tracked in JIRA-4512', tags: ['work'], metadata: { team: 'pay' } },
  { id: 't2', text: 'The login page bug is tracked in JIRA-4513', tags: ['work'], metadata: { team: 'web' } },
  { id: 't3', text: 'The export job bug is tracked in JIRA-4152', tags: ['work'], metadata: { team: 'pay' } },
  { id: 'h1', text: 'Nightly builds run on hopper-7.corp.example.com.', tags: ['infra'] },
  { id: 'h2', text: 'Old builds ran on hopper-71.corp.example.com before the move.', tags: ['infra'] },
  { id: 'p1', text: 'Dr. Przybylski is the contact for the lab contract.', namespace: 'people' },
  { id: 'p2', text: 'Ms. Przybylska handles the invoices for the lab.', namespace: 'people' },
  { id: 'v1', text: 'Upgrade the agent to v2.14.3; older builds leak memory.' },
  { id: 'v2', text: 'The agent v2.14.4 broke the scheduler.' },
  ...Array.from({ length: 40 }, (_, i) => ({
    id: `n${i}`,
    text: `an ordinary note about gardening, tomatoes and rain ${i}`,
  })),
];

function suite(name: string, env: () => Record<string, string>): void {
  describe(`hybrid search (${name})`, () => {
    let h: Harness;
    let dir: ReturnType<typeof tempDir>;
    before(async () => {
      dir = tempDir();
      h = await startHarness(testConfig(dir.path, { BACKFILL_INTERVAL_MS: '0', ...env() }));
      await h.app.service.ready();
      await callOk(h, 'memory_store', { items: MEMORIES });
    });
    after(async () => {
      await h.close();
      dir.cleanup();
    });
    const top = async (query: string, extra: Record<string, unknown> = {}) =>
      (await callOk(h, 'memory_search', { query, k: 5, ...extra })).results;

    it('finds identifiers, hostnames and names first, and says why', async () => {
      const jira = await top('JIRA-4512');
      assert.equal(jira[0]?.id, 't1');
      assert.equal(jira[0]?.promoted, true);
      assert.equal(jira[0]?.keyword?.rank, 1);
      assert.ok(!jira.slice(1).some((r) => r.promoted), 'its near-miss siblings are not promoted');
      assert.equal((await top('status of JIRA-4152'))[0]?.id, 't3');
      assert.equal((await top('hopper-7'))[0]?.id, 'h1');
      assert.equal((await top('who is Przybylski'))[0]?.id, 'p1');
      assert.equal((await top('v2.14.4'))[0]?.id, 'v2');
      const semantic = (await top('tomatoes in the rain', { mode: 'semantic' }))[0];
      assert.ok(semantic?.semantic && !semantic.keyword, 'semantic mode: one channel');
      const keyword = (await top('tomatoes in the rain', { mode: 'keyword' }))[0];
      assert.ok(keyword?.keyword && !keyword.semantic, 'keyword mode: one channel');
      const r = await h.call('memory_search', { query: 'JIRA-4512' });
      assert.match(textOf(r), /t1 s#\d+ [\d.]+ k#1 [\d.]+ ids/);
    });

    it('applies every filter to both channels', async () => {
      const pay = await top('bug tracked in JIRA', { filter: { team: 'pay' }, k: 10 });
      assert.deepEqual(pay.map((r) => r.id).sort(), ['t1', 't3']);
      assert.deepEqual(
        (await top('JIRA-4512', { filter: { team: 'web' } })).map((r) => r.id),
        ['t2'],
        'the promoted memory is outside the filter: never shown',
      );
      assert.deepEqual((await top('lab contract', { namespace: 'people', k: 10 })).map((r) => r.id).sort(), [
        'p1',
        'p2',
      ]);
      assert.ok((await top('builds', { tags: ['infra'], k: 10 })).every((r) => r.id.startsWith('h')));
    });

    it('refuses an unknown mode with the accepted ones', async () => {
      const r = await h.call('memory_search', { query: 'x', mode: 'fuzzy' });
      assert.equal(r.isError, true);
      assert.match(textOf(r), /hybrid.*semantic.*keyword/);
    });
  });
}

onBothStores('hybrid', suite, { falkordbSearch: true });
