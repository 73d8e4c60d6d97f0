// The snapshot file format on its own (no faiss): the id map survives a round trip across many
// header lines, tombstones included, and every kind of damage is refused with a reason.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  completeSnapshot,
  encodeHeader,
  openSnapshot,
  readSnapshotFileAsync,
  readSnapshotHeader,
} from '../src/index/snapshot/snapshot.js';
import { tempDir } from './helpers/tmp.js';

describe('snapshot format', () => {
  const count = 120_001; // three lines of ids, the last one short
  const ids = Array.from({ length: count }, (_, i) => (i % 7 === 3 ? null : `id-${i}`));
  const hashes = ids.map((id, i) => (id === null ? null : `h${i}`));
  const indexPart = randomBytes(100_000); // stands for the faiss bytes

  const write = async (dir: string) => {
    const tmp = join(dir, '.x.snapshot.tmp');
    writeFileSync(tmp, indexPart);
    const header = await encodeHeader({
      fingerprint: 'test:fmt:4',
      dimension: 4,
      count,
      live: ids.filter((x) => x !== null).length,
      appliedSeq: 77,
      createdAt: '2026-11-22T00:00:00.000Z',
      ids,
      hashes,
    });
    assert.ok(header.length >= 7, `the map spans lines (${header.length})`);
    const path = join(dir, 'x.snapshot');
    await completeSnapshot(tmp, path, indexPart.length, header);
    return path;
  };

  it('round-trips the id map, tombstones included, and keeps the index part at the start', async () => {
    const dir = tempDir();
    const path = await write(dir.path);
    assert.ok(readFileSync(path).subarray(0, indexPart.length).equals(indexPart), 'faiss reads from offset 0');
    const { header } = await readSnapshotFileAsync(path);
    assert.deepEqual([header.count, header.appliedSeq, header.fingerprint], [count, 77, 'test:fmt:4']);
    assert.deepEqual(header.ids, ids);
    assert.deepEqual(header.hashes, hashes);
    // The model-selection read: the first line only, the map left alone.
    const meta = await readSnapshotHeader(path);
    assert.deepEqual([meta.fingerprint, meta.count, 'ids' in meta], ['test:fmt:4', count, false]);
    dir.cleanup();
  });

  it('refuses damage with a reason: index part, header, trailer, truncation', async () => {
    const dir = tempDir();
    const path = await write(dir.path);
    const good = readFileSync(path);
    const flipped = (at: number) => {
      const b = Buffer.from(good);
      b[at]! ^= 0x01;
      writeFileSync(path, b);
    };
    flipped(50_000);
    await assert.rejects(readSnapshotFileAsync(path), /index checksum mismatch/);
    flipped(indexPart.length + 1000);
    await assert.rejects(openSnapshot(path), /header checksum mismatch/);
    flipped(good.length - 3);
    await assert.rejects(openSnapshot(path), /no snapshot trailer/);
    writeFileSync(path, good);
    truncateSync(path, good.length - 100);
    await assert.rejects(openSnapshot(path), /truncated|trailer/);
    writeFileSync(path, '');
    await assert.rejects(openSnapshot(path), /too short/);
    dir.cleanup();
  });
});
