// `vector-memory-mcp backfill`: runs the backfill job from the command line, once (for cron)
// or on an interval (as its own container). A progress bar on a terminal, log lines otherwise.
import type { App } from '../app.js';
import type { BackfillRun } from '../backfill/backfill-job.js';
import type { BackfillCommand } from '../config/command-line.js';
import type { Logger } from '../shared/logger.js';
import { endProgressBar, progressBar } from './progress-bar.js';

export async function runBackfillCommand(app: App, command: BackfillCommand, logger: Logger): Promise<number> {
  await app.open();
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  const show = (run: BackfillRun, final = false) => {
    const done = run.embedded + run.failed;
    const total = Math.max(run.planned, done);
    if (tty) {
      const rate = run.throughput_per_s !== null ? ` ${run.throughput_per_s}/s` : '';
      const eta = run.eta_s !== null && !final ? ` ETA ${formatSeconds(run.eta_s)}` : '';
      progressBar(done, total, ` (${run.failed} failed)${rate}${eta}`);
      if (final) endProgressBar();
    } else if (final || Date.now() - lastLine > 2000) {
      lastLine = Date.now();
      logger.info('backfill progress', {
        embedded: run.embedded,
        failed: run.failed,
        planned: run.planned,
        perSecond: run.throughput_per_s,
        etaSeconds: run.eta_s,
      });
    }
  };
  const once = async (): Promise<BackfillRun> => {
    const started = app.backfill.run({
      trigger: 'cli',
      scope: { namespace: command.namespace, graph: command.graph, label: command.label },
      limit: command.limit,
      onProgress: (run) => show(run),
    });
    const run = await started.done;
    show(run, true);
    process.stdout.write(
      JSON.stringify({
        run: run.id,
        outcome: run.outcome,
        embedded: run.embedded,
        failed: run.failed,
        skipped: run.skipped,
        error: run.error,
      }) + '\n',
    );
    return run;
  };

  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let last = await once();
  while (!command.once && !stopping) {
    await new Promise((r) => setTimeout(r, Math.max(1000, app.config.backfillIntervalMs)));
    if (!stopping) last = await once();
  }
  await app.close();
  return last.outcome === 'failed' || last.failed > 0 ? 1 : 0;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
