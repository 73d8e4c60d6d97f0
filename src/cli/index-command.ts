// `vector-memory-mcp health` and `vector-memory-mcp repair`: the index_health and
// index_repair tools from a shell (a progress bar on a terminal while rebuilding).
import type { App } from '../app.js';
import { endProgressBar, progressBar } from './progress-bar.js';
import { errorMessage } from '../shared/errors.js';
import { healthReport, type HealthReport } from '../health/health-report.js';
import { describeRepair, runRepair, type RepairMode } from '../health/repair.js';

export async function runIndexCommand(
  app: App,
  repair: { mode: RepairMode; dryRun: boolean } | null,
  json = true,
): Promise<number> {
  await app.open();
  try {
    if (!repair) {
      // (A one-shot command measures recall now: it would not live to see a background measurement.)
      const report = await healthReport({ ...app.health(), recallInlineFloats: Infinity });
      process.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : summary(report));
      return report.status === 'ok' ? 0 : 1;
    }
    const result = await runRepair(app.service, repair.mode, repair.dryRun, progressBar).finally(endProgressBar);
    process.stderr.write(describeRepair(result) + '\n');
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`vector-memory-mcp: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await app.close();
  }
}

/** The health report for a person at a terminal: the verdict, its reasons, the main counts. */
export function summary(r: HealthReport): string {
  const lines = [`status: ${r.status}`];
  for (const reason of r.reasons) lines.push(`  ${reason.severity}: ${reason.message}`);
  lines.push(
    `provider: ${r.provider.name} ${r.provider.model} (${r.provider.kind})`,
    `store: ${r.store.kind}, ${r.store.total} memories (${r.store.embedded_current_model} embedded by this model, ` +
      `${r.store.pending} pending, ${r.store.failed} failed, ${r.store.other_model} other model)`,
    r.index
      ? `index: ${r.index.type}${r.index.nlist !== null ? ` nlist ${r.index.nlist} nprobe ${r.index.nprobe}` : ''}, ` +
          (r.index.missing_count === null
            ? `${r.index.state}, not compared with the store`
            : `${r.index.missing_count} missing, ${r.index.extra_count} extra`)
      : 'index: not available',
  );
  if (r.recall?.recall_at_10 != null) {
    lines.push(`recall@10: ${r.recall.recall_at_10.toFixed(3)} on ${r.recall.sample} memories`);
  }
  lines.push('(the full report: --json)');
  return lines.join('\n') + '\n';
}
