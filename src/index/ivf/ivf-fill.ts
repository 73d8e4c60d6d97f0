// Fills a new IVF generation off the FAISS worker. faiss-node's add reads vectors from a JS array
// element by element (about 0.25 µs per float, 100 s for 1M x 384), and an IVF add cannot skip
// that: each row's list comes from a quantizer search over the same kind of array. So a rebuild
// of an IVF generation diverts its adds (labels reserved as usual) into a vectors file; child
// processes (ivf-worker.ts, as many as there are cores, at most MAX_FILLERS) put ranges of its
// rows into their lists and write index parts in faiss's layout; the FAISS worker merges the
// parts in row order, one short request each, so searches of the served generation go on.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { mkdir, open, readdir, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFully } from '../../shared/fs-atomic.js';
import type { HostedIndex } from '../faiss/faiss-host.js';
import { runChild, type FillReply } from './ivf-train.js';

const MAX_FILLERS = 4;
/** Below this many rows one process does it all (a child costs ~0.3 s to start). */
const ROWS_PER_FILLER = 20_000;

export class IvfFill {
  private rows = 0;
  private chain: Promise<void> = Promise.resolve();
  private failed: Error | null = null;

  private constructor(
    private readonly file: FileHandle,
    private readonly tag: string,
    private readonly dimension: number,
  ) {}

  /** Starts diverting the adds of `index` (a trained, empty IVF generation) into a vectors file in `dir`. */
  static async divert(index: HostedIndex, dir: string): Promise<IvfFill> {
    if (index.kind !== 'IVF' || index.size !== 0) throw new Error('only an empty IVF index is filled this way');
    await mkdir(dir, { recursive: true });
    const tag = join(dir, `.train-${process.pid}.${randomBytes(4).toString('hex')}.fill`);
    const fill = new IvfFill(await open(`${tag}.f32.tmp`, 'wx', 0o600), tag, index.dimension);
    index.divertAdds((data, first) => fill.append(data, first));
    return fill;
  }

  private append(data: Float32Array, firstLabel: number): Promise<void> {
    if (firstLabel !== this.rows)
      return Promise.reject(new Error(`diverted add at label ${firstLabel}, expected ${this.rows}`));
    this.rows += data.length / this.dimension;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      try {
        await writeFully(this.file, bytes);
      } catch (err) {
        this.failed = err as Error;
      }
    });
    return this.chain.then(() => {
      if (this.failed) throw this.failed;
    });
  }

  /**
   * Fills `index` with every diverted row: children write parts from the trained empty index
   * `emptyTrained`, the worker merges them in row order. Adds reach the worker again afterwards.
   */
  async finish(index: HostedIndex, emptyTrained: Buffer): Promise<void> {
    await this.chain;
    if (this.failed) throw this.failed;
    await this.file.close();
    const emptyPath = `${this.tag}.empty.tmp`;
    const parts: string[] = [];
    try {
      await writeFile(emptyPath, emptyTrained, { mode: 0o600 });
      const fillers = Math.max(
        1,
        Math.min(MAX_FILLERS, availableParallelism(), Math.floor(this.rows / ROWS_PER_FILLER)),
      );
      const per = Math.ceil(this.rows / fillers);
      const ranges = Array.from(
        { length: fillers },
        (_, i) => [i * per, Math.min(this.rows, (i + 1) * per)] as const,
      ).filter(([from, to]) => to > from);
      const replies = await Promise.all(
        ranges.map(([fromRow, toRow], i) =>
          runChild<FillReply>({
            kind: 'fill',
            dimension: this.dimension,
            emptyPath,
            vectorsPath: `${this.tag}.f32.tmp`,
            fromRow,
            toRow,
            outPrefix: `${this.tag}.${i}`,
          }),
        ),
      );
      for (const r of replies) {
        if (!r.ok) throw new Error(`filling the IVF index failed: ${r.error}`);
        parts.push(...r.result.parts);
      }
      let added = 0;
      for (const part of parts) {
        added += await index.mergeFile(part);
        await rm(part, { force: true });
      }
      if (added !== this.rows) throw new Error(`the IVF fill merged ${added} of ${this.rows} vectors`);
      index.endDivert();
    } finally {
      await this.removeFiles();
    }
  }

  /** Gives up: the vectors file goes (the generation is released by its owner). */
  async discard(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.file.close().catch(() => undefined);
    await this.removeFiles();
  }

  /** Every file of this fill: vectors, empty index, parts (also those of a child that failed halfway). */
  private async removeFiles(): Promise<void> {
    const dir = dirname(this.tag);
    const mine = (await readdir(dir)).filter((f) => f.startsWith(`${basename(this.tag)}.`));
    await Promise.all(mine.map((f) => rm(join(dir, f), { force: true })));
  }
}
