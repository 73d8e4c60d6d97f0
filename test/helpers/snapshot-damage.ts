// Damages a snapshot's id map as a bug or a bad restore would, keeping the file well-formed
// (both checksums valid): pairs of labels swap their ids, so the same ids are mapped, each to
// another memory's vector. Only a recall measurement can notice.
import { copyFile, truncate } from 'node:fs/promises';
import { completeSnapshot, encodeHeader, openSnapshot } from '../../src/index/snapshot/snapshot.js';

export async function swapMappedIds(snapshotPath: string, swaps: number): Promise<void> {
  const snap = await openSnapshot(snapshotPath);
  const { header, faissLength } = snap;
  await snap.file.close();
  const ids = [...header.ids];
  const live = ids.flatMap((id, label) => (id === null ? [] : [label]));
  for (let i = 0; i + 1 < live.length && i < swaps * 2; i += 2) {
    const a = live[i]!;
    const b = live[i + 1]!;
    [ids[a], ids[b]] = [ids[b]!, ids[a]!];
  }
  const tmp = `${snapshotPath}.damage.tmp`;
  await copyFile(snapshotPath, tmp);
  await truncate(tmp, faissLength);
  const { format: _format, ...rest } = header;
  await completeSnapshot(tmp, snapshotPath, faissLength, await encodeHeader({ ...rest, ids }));
}
