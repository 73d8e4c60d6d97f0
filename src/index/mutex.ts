/** Runs async critical sections one at a time, in call order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** Sections queued or running. */
  get size(): number {
    return this.waiting;
  }

  run<T>(section: () => Promise<T> | T): Promise<T> {
    this.waiting++;
    const result = this.tail.then(section);
    this.tail = result.then(
      () => this.waiting--,
      () => this.waiting--,
    );
    return result;
  }
}
