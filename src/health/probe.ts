// GET /healthz: index_health's serving checks alone (health-report.ts servingReasons), plus
// whether the store answers a one-row read, for a load balancer that asks every few seconds: no scans, no
// recall sample.
import type { MemoryService } from '../memory/memory-service.js';
import { errorMessage } from '../shared/errors.js';
import { servingReasons, verdictOf, type HealthReason } from './health-report.js';

/** How long a probe waits for an index that is still opening before it answers "not yet". */
const PROBE_WAIT_MS = 1000;

export interface HealthProbe {
  /** `serving`, not `ok`: the probe does not check what index_health measures (recall, id sets, keyword index). */
  status: 'serving' | 'failing';
  reasons: { code: string; message: string }[];
}

export async function probeHealth(service: MemoryService, waitMs = PROBE_WAIT_MS): Promise<HealthProbe> {
  const reasons: HealthReason[] = [];
  const add = (code: string, severity: HealthReason['severity'], message: string) =>
    reasons.push({ code, severity, message });
  try {
    await service.store.headSeq(); // one row: the cheapest read every store answers
  } catch (err) {
    add('store_unavailable', 'failing', `the store does not answer: ${errorMessage(err)}`);
  }
  await servingReasons(service, add, waitMs);
  return {
    status: verdictOf(reasons) === 'failing' ? 'failing' : 'serving',
    reasons: reasons.map(({ code, message }) => ({ code, message })),
  };
}
