// `vector-memory-mcp health` and `vector-memory-mcp repair`: the index_health and
// index_repair tools from a shell (a progress bar on a terminal while rebuilding).
import type { App } from '../app.js';
import { endProgressBar, progressBar } from './progress-bar.js';
import { errorMessage } from '../shared/errors.js';
import { healthReport } from '../health/health-report.js';
import { describeRepair, runRepair, type RepairMode } from '../health/repair.js';

export async function runIndexCommand(app: App, repair: { mode: RepairMode; dryRun: boolean } | null): Promise<number> {
  await app.open();
  try {
    if (!repair) {
      const report = await healthReport(app.health());
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
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
