// Word -> rank for the 341,479 words of the word-vector table, without 341,479 strings and a
// Map entry each (about half a second to build and 27 MB): the words stay one string, and an
// open-addressing table of ranks is keyed by a hash of each word's characters. The first of
// repeated words keeps its rank, as the table is read most frequent first.
export class WordIndex {
  /** starts[r] is where word r begins in `text`; starts[count] is text.length + 1. */
  private readonly starts: Int32Array;
  /** rank + 1 of the word hashed to that slot (0: empty), linear probing. */
  private readonly slots: Int32Array;
  private readonly mask: number;
  readonly size: number;

  /** `text`: the words, "\n"-separated; `built`: tables() of an index of the same text (made in another thread). */
  constructor(
    private readonly text: string,
    built?: { starts: Int32Array; slots: Int32Array },
  ) {
    if (built) {
      this.starts = built.starts;
      this.slots = built.slots;
      this.size = built.starts.length - 1;
      this.mask = built.slots.length - 1;
      return;
    }
    let count = 1;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) count++;
    const starts = new Int32Array(count + 1);
    let r = 1;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts[r++] = i + 1;
    starts[count] = text.length + 1;
    this.starts = starts;
    this.size = count;
    let capacity = 1;
    while (capacity < count * 2) capacity *= 2;
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    for (let w = 0; w < count; w++) {
      const from = starts[w]!;
      const to = starts[w + 1]! - 1;
      let h = 0x811c9dc5;
      for (let i = from; i < to; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
      for (let slot = h & this.mask; ; slot = (slot + 1) & this.mask) {
        const held = this.slots[slot]!;
        if (held === 0) {
          this.slots[slot] = w + 1;
          break;
        }
        if (this.sameWord(held - 1, from, to)) break;
      }
    }
  }

  /** Its tables, to hand to another thread (transferable). */
  tables(): { starts: Int32Array; slots: Int32Array } {
    return { starts: this.starts, slots: this.slots };
  }

  get(word: string): number | undefined {
    let h = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193);
    for (let slot = h & this.mask; ; slot = (slot + 1) & this.mask) {
      const held = this.slots[slot]!;
      if (held === 0) return undefined;
      const r = held - 1;
      const from = this.starts[r]!;
      if (this.starts[r + 1]! - 1 - from === word.length && this.text.startsWith(word, from)) return r;
    }
  }

  private sameWord(r: number, from: number, to: number): boolean {
    const at = this.starts[r]!;
    if (this.starts[r + 1]! - 1 - at !== to - from) return false;
    for (let i = 0; i < to - from; i++)
      if (this.text.charCodeAt(at + i) !== this.text.charCodeAt(from + i)) return false;
    return true;
  }
}
