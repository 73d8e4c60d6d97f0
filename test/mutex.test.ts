// The index lock: sections run one at a time in call order; a section that cannot start in
// time, or whose caller cancelled, never runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Mutex } from '../src/shared/mutex.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mutex', () => {
  it('runs sections one at a time, in call order, and counts what waits', async () => {
    const m = new Mutex();
    const log: string[] = [];
    const section = (name: string, ms: number) => async () => {
      log.push(`${name} start`);
      await tick(ms);
      log.push(`${name} end`);
      return name;
    };
    const all = Promise.all([m.run(section('a', 20)), m.run(section('b', 5)), m.run(section('c', 1))]);
    assert.equal(m.size, 3);
    assert.deepEqual(await all, ['a', 'b', 'c']);
    assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    assert.equal(m.size, 0);
  });

  it('a section that does not start within waitMs never runs and rejects with the given error', async () => {
    const m = new Mutex();
    let ran = false;
    const holder = m.run(() => tick(100));
    const late = m.run(
      () => {
        ran = true;
      },
      { waitMs: 20, timeoutError: () => new Error('busy for too long') },
    );
    await assert.rejects(late, /busy for too long/);
    await holder;
    await tick(5);
    assert.equal(ran, false);
    assert.equal(await m.run(() => 'next'), 'next', 'the lock goes on after a dropped section');
  });

  it('a section whose signal aborts before it starts never runs; one that started is not stopped', async () => {
    const m = new Mutex();
    let ran = false;
    const holder = m.run(() => tick(50));
    const controller = new AbortController();
    const waiting = m.run(
      () => {
        ran = true;
      },
      { signal: controller.signal },
    );
    controller.abort(new Error('caller went away'));
    await assert.rejects(waiting, /caller went away/);
    await holder;
    await tick(5);
    assert.equal(ran, false);

    const started = new AbortController();
    const running = m.run(
      async () => {
        started.abort(new Error('too late'));
        await tick(10);
        return 'finished';
      },
      { signal: started.signal },
    );
    assert.equal(await running, 'finished');
    await assert.rejects(
      m.run(() => 1, { signal: started.signal }),
      /too late/,
      'already aborted: refused at once',
    );
  });

  it('a section that throws rejects its caller only', async () => {
    const m = new Mutex();
    const bad = m.run(() => {
      throw new Error('broken section');
    });
    const good = m.run(() => 'fine');
    await assert.rejects(bad, /broken section/);
    assert.equal(await good, 'fine');
  });
});
