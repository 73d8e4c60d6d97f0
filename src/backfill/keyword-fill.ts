// Adds memories stored before the keyword index existed to it (a database upgraded to the
// schema with one, or an index dropped by hand or reset by index_repair), in small
// transactions with a turn of the event loop between them, so the server answers meanwhile.
import { setTimeout as wait } from 'node:timers/promises';
import { sleep } from '../shared/abort.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { KeywordIndex } from '../store/types.js';

/** Memories per transaction. */
const STEP = 2000;
/** After a failed step (the store busy or down), try again this much later. */
const RETRY_MS = 5000;

export class KeywordFill {
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly stopping = new AbortController();

  constructor(
    private readonly index: KeywordIndex,
    private readonly logger: Logger,
  ) {}

  /** Starts filling if it is needed and not already under way. */
  start(): void {
    if (this.stopped || this.running) return;
    this.running = this.fill().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits for the fill to finish (tests, repair). */
  async settled(): Promise<void> {
    await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort(new Error('stopping'));
    await this.running;
  }

  private async fill(): Promise<void> {
    let steps = 0;
    const started = Date.now();
    while (!this.stopped) {
      let more: boolean;
      try {
        more = await this.index.fillStep(STEP);
      } catch (err) {
        this.logger.warn('keyword index fill failed; retrying', { error: errorMessage(err) });
        await sleep(RETRY_MS, this.stopping.signal).catch(() => undefined); // stop() ends the wait
        continue;
      }
      if (!more) break;
      if (steps++ === 0) this.logger.info('adding earlier memories to the keyword index in the background');
      await wait(0);
    }
    if (steps > 0) this.logger.info('keyword index complete', { ms: Date.now() - started });
  }
}
