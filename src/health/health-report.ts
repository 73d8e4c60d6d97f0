// index_health: a report on the store, the search index and the provider, with a verdict
// (ok / degraded / failing) and the reasons for it. Every reason here can turn the verdict;
// tests show each one doing so.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { BackfillJob } from '../backfill/backfill-job.js';
import { z } from 'zod';
import { BreakerStatusSchema, type BreakerStatus } from '../embeddings/circuit-breaker.js';
import { sleep } from '../shared/abort.js';
import { errorMessage } from '../shared/errors.js';
import { embeddedCount } from '../shared/embedded-count.js';
import { RECALL_INLINE_FLOATS, recallForHealth } from './recall.js';
import type { Limits } from '../config/limits.js';
import type { MemoryService } from '../memory/memory-service.js';
import { IndexReportSchema, MigrationSchema, indexReport, migrationReport } from './index-report.js';

const ReasonSchema = z.object({
  code: z.string(),
  severity: z.enum(['degraded', 'failing']),
  message: z.string(),
});

export const HealthReportSchema = z.object({
  status: z.enum(['ok', 'degraded', 'failing']),
  reasons: z.array(ReasonSchema),
  checked_at: z.string(),
  provider: z.object({
    name: z.string(),
    model: z.string(),
    kind: z.string(),
    fingerprint: z.string().nullable(),
    circuit: BreakerStatusSchema.nullable(),
  }),
  store: z.object({
    kind: z.string(),
    total: z.number(),
    embedded_current_model: z.number(),
    pending: z.number(),
    failed: z.number(),
    other_model: z.number(),
  }),
  index: IndexReportSchema.extend({
    matches_provider: z.boolean(),
    missing_count: z
      .number()
      .nullable()
      .describe('null while the index is not serving (recovering, failed): not compared'),
    missing_sample: z.array(z.string()),
    extra_count: z
      .number()
      .nullable()
      .describe('null while the index is not serving (recovering, failed): not compared'),
    extra_sample: z.array(z.string()),
  }).nullable(),
  migration: MigrationSchema.nullable(),
  recall: z
    .object({
      recall_at_10: z.number().nullable().describe('null until a first measurement of a large index is done'),
      sample: z.number(),
      floor: z.number(),
      method: z.string(),
      measured_at: z.string().nullable(),
      note: z.string().optional(),
    })
    .nullable(),
  limits: z.object({
    max_memories: z.number(),
    memories: z.number(),
    max_index_bytes: z.number(),
    index_bytes: z.number(),
  }),
  event_loop: z.object({ p50_ms: z.number(), p99_ms: z.number(), max_ms: z.number() }),
  keyword: z
    .object({
      indexed: z.number(),
      total: z.number(),
      building: z.boolean(),
      missing_count: z.number(),
      extra_count: z.number(),
      missing_sample: z.array(z.string()),
    })
    .nullable()
    .describe('the keyword index against the store'),
  vector_indexes: z
    .array(
      z.object({
        graph: z.string(),
        label: z.string(),
        property: z.string(),
        dimension: z.number().nullable(),
        wanted: z.number(),
        indexed: z.number().nullable(),
        state: z.enum(['ready', 'waiting_for_reembedding', 'missing', 'failed']),
        detail: z.string().optional(),
      }),
    )
    .nullable()
    .describe('FalkorDB vector indexes for Cypher queries, per label written to since start'),
});
export type HealthReport = z.infer<typeof HealthReportSchema>;
export type HealthReason = z.infer<typeof ReasonSchema>;

/** Event-loop delay since start: a stalled loop means late answers to every client. */
export class LoopMonitor {
  private readonly h: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  constructor() {
    this.h.enable();
  }
  figures(): { p50_ms: number; p99_ms: number; max_ms: number } {
    const ms = (ns: number) => Math.round((ns / 1e6) * 10) / 10;
    return { p50_ms: ms(this.h.percentile(50)), p99_ms: ms(this.h.percentile(99)), max_ms: ms(this.h.max) };
  }
  stop(): void {
    this.h.disable();
  }
}

export interface HealthDeps {
  service: MemoryService;
  backfill?: BackfillJob | undefined;
  circuit?: (() => BreakerStatus) | undefined;
  limits: Limits;
  recallFloor: number;
  loop?: LoopMonitor | undefined;
  /** Memories sampled for the recall measurement. */
  sample?: number;
  /** Floats the index holds up to which recall is measured in the call, not in the background (a CLI: Infinity). */
  recallInlineFloats?: number;
}

export async function healthReport(deps: HealthDeps): Promise<HealthReport> {
  const { service, limits } = deps;
  const reasons: HealthReason[] = [];
  const add = (code: string, severity: HealthReason['severity'], message: string) =>
    reasons.push({ code, severity, message });
  const provider = service.providerInfo();
  const stats = await service.store.stats();
  const fingerprint = provider.fingerprint;
  const circuit = deps.circuit?.() ?? null;
  // Memories embedded by the configured model: counted by verify() when the index is open.
  let current = 0;

  let index: HealthReport['index'] = null;
  let recall: HealthReport['recall'] = null;
  await servingReasons(service, add);
  const open = service.openIndex;
  if (open && !open.serving) {
    // Recovering from a lost FAISS worker, or failed to (servingReasons said which): nothing to
    // compare with the store until it serves again.
    const s = open.stats();
    index = {
      ...indexReport(s),
      matches_provider: s.fingerprint === fingerprint,
      missing_count: null,
      missing_sample: [],
      extra_count: null,
      extra_sample: [],
    };
  } else if (open) {
    const verify = await open.verify();
    current = verify.storeCount;
    const s = open.stats();
    index = {
      ...indexReport(s),
      matches_provider: s.fingerprint === fingerprint,
      missing_count: verify.missingCount,
      missing_sample: verify.missingFromIndex,
      extra_count: verify.extraCount,
      extra_sample: verify.notInStore,
    };
    const share = (n: number) => n / Math.max(1, verify.storeCount);
    if (verify.missingCount > 0) {
      add(
        'missing_vectors',
        share(verify.missingCount) > 0.1 ? 'failing' : 'degraded',
        `${verify.missingCount} embedded memories are missing from the search index (index_repair mode "sync" adds them)`,
      );
    }
    if (verify.extraCount > 0) {
      add(
        'extra_vectors',
        share(verify.extraCount) > 0.1 ? 'failing' : 'degraded',
        `${verify.extraCount} vectors in the search index belong to no memory of the store (index_repair mode "sync" drops them)`,
      );
    }
    const counted = verify.storeCount - verify.missingCount + verify.extraCount;
    if (verify.sizeMismatch !== null || (!verify.inconclusive && counted !== verify.indexCount)) {
      add(
        'count_mismatch',
        'failing',
        `the store holds ${verify.storeCount} embedded memories and the index ${verify.indexCount}, ` +
          `which ${verify.missingCount} missing and ${verify.extraCount} extra do not explain` +
          (verify.sizeMismatch ? ` (${verify.sizeMismatch})` : '') +
          (verify.duplicateCount > 0 ? ` (${verify.duplicateCount} store rows repeat an id another row holds)` : '') +
          ' (index_repair mode "rebuild")',
      );
    }
    if (s.persistFailure) {
      add(
        'snapshot_write_failing',
        'degraded',
        `index snapshots cannot be written since ${s.persistFailure.since}: ${s.persistFailure.error} ` +
          '(searches work; a restart rebuilds the index from the store)',
      );
    }
    const attempt = s.lastTrainingAttempt;
    if (s.type === 'Flat' && attempt?.outcome === 'refused' && !s.plan.includes('below the IVF threshold')) {
      add(
        'ivf_refused',
        'degraded',
        `searches are exact but slower than planned: the IVF index for ${attempt.vectors} vectors was refused (${attempt.reason})`,
      );
    }
    // Query sample sized so the exact side costs about 1e9 multiply-adds (about a second here).
    const budget = Math.floor(1e9 / Math.max(1, s.live * s.dimension));
    const { measured, measuring } = await recallForHealth(
      open,
      service.store,
      deps.sample ?? Math.max(10, Math.min(64, budget)),
      deps.recallInlineFloats ?? RECALL_INLINE_FLOATS,
    );
    recall = {
      recall_at_10: measured?.recall ?? null,
      sample: measured?.sample ?? 0,
      floor: deps.recallFloor,
      method:
        'sampled stored vectors as queries (their own memory left out): the index top 10 against exact search over every stored vector of this model',
      measured_at: measured?.at ?? null,
      ...(measuring
        ? {
            note: 'being measured in the background (a large index: the exact side reads every stored vector); ask again later',
          }
        : {}),
    };
    // A sample estimate: failing only when it is below the floor by more than twice its standard error
    // (a sound IVF index tuned to the floor + 0.02 must not flap on a sample of a few dozen queries).
    const se = measured
      ? Math.sqrt(Math.max(measured.recall * (1 - measured.recall), 0.01) / Math.max(1, measured.sample * 10))
      : 0;
    if (measured && measured.sample > 0 && measured.recall + 2 * se < deps.recallFloor) {
      add(
        'low_recall',
        'failing',
        `recall@10 measured on ${measured.sample} memories is ${measured.recall.toFixed(3)} (±${se.toFixed(3)}), below ${deps.recallFloor} (index_repair mode "rebuild")`,
      );
    }
  }
  if ((!open || !open.serving) && fingerprint) current = await embeddedCount(service.store, fingerprint);
  const otherModel = Math.max(0, stats.done - current);
  const migration = service.migrationStatus();
  if (otherModel > 0 || migration) {
    add(
      'model_migration',
      'degraded',
      `${otherModel} memories still carry vectors of another model; the backfill re-embeds them` +
        (migration
          ? ` (${migration.done} of ${migration.total} done; ${
              migration.servingPrevious
                ? `searches also use the previous model's index, ${migration.from}, until then`
                : 'searches find only re-embedded memories until then: the previous model cannot be used from the current settings'
            })`
          : ''),
    );
  }
  const keyword = await keywordHealth(service, add);
  const vectorIndexes = (await service.store.vectorIndexes?.list()) ?? null;
  for (const v of vectorIndexes ?? []) {
    if (v.state === 'missing' || v.state === 'failed') {
      add(
        'vector_index_unusable',
        'degraded',
        `FalkorDB has no usable vector index on ${v.label}.${v.property} in graph ${v.graph} (${v.detail ?? v.state}); ` +
          'Cypher vector queries fail there until the next vector written recreates it',
      );
    }
  }
  if (stats.pending > 0)
    add('pending_embeddings', 'degraded', `${stats.pending} memories wait for an embedding (backfill_status)`);
  if (stats.failed > 0)
    add('failed_embeddings', 'degraded', `${stats.failed} memories could not be embedded (backfill_status lists why)`);
  const unavailable = service.embedder.unavailable;
  if (unavailable !== undefined) add('provider_unavailable', 'degraded', unavailable);
  else if (circuit?.state === 'open')
    add('provider_circuit_open', 'degraded', `the embedding provider keeps failing: ${circuit.last_error}`);

  const indexBytes = open ? open.stats().memoryBytes : 0;
  for (const [code, used, max, name] of [
    ['memories', stats.total, limits.maxMemories, 'MEMORY_MAX_MEMORIES'],
    ['index_bytes', indexBytes, limits.maxIndexBytes, 'MEMORY_MAX_INDEX_BYTES'],
  ] as const) {
    if (used >= max)
      add(
        `${code}_limit_reached`,
        'failing',
        `${code.replace('_', ' ')} at ${used} of ${max} (${name}); new memories are refused`,
      );
    else if (used >= 0.8 * max)
      add(`${code}_limit_near`, 'degraded', `${code.replace('_', ' ')} at ${used} of ${max} (${name}), above 80%`);
  }
  const loop = deps.loop?.figures() ?? { p50_ms: 0, p99_ms: 0, max_ms: 0 };
  if (loop.p99_ms > 1000) add('event_loop_lag', 'degraded', `the event loop stalls: p99 ${loop.p99_ms} ms`);

  return {
    status: verdictOf(reasons),
    reasons,
    checked_at: new Date().toISOString(),
    provider: { name: provider.name, model: provider.model, kind: provider.kind, fingerprint, circuit },
    store: {
      kind: service.store.kind,
      total: stats.total,
      embedded_current_model: current,
      pending: stats.pending,
      failed: stats.failed,
      other_model: otherModel,
    },
    index,
    migration: migration ? migrationReport(migration) : null,
    recall,
    limits: {
      max_memories: limits.maxMemories,
      memories: stats.total,
      max_index_bytes: limits.maxIndexBytes,
      index_bytes: indexBytes,
    },
    event_loop: loop,
    keyword,
    vector_indexes: vectorIndexes,
  };
}

type AddReason = (code: string, severity: HealthReason['severity'], message: string) => void;

/** ok, degraded (some reason, none failing) or failing. */
export function verdictOf(reasons: readonly HealthReason[]): HealthReport['status'] {
  return reasons.some((r) => r.severity === 'failing') ? 'failing' : reasons.length > 0 ? 'degraded' : 'ok';
}

/**
 * The checks that say whether this instance can serve at all, cheap enough for a load
 * balancer's probe (no scan, no recall sample): the index opens (waited for up to `waitMs`,
 * all the way when undefined), is of the provider's model, and store writes succeed.
 */
export async function servingReasons(service: MemoryService, add: AddReason, waitMs?: number): Promise<void> {
  if (!service.openIndex) {
    const opened = service.ready().then(
      () => null,
      (err: unknown) => errorMessage(err),
    );
    const timer = new AbortController(); // clears the wait's timer once the race is decided
    const why = await (waitMs === undefined
      ? opened
      : Promise.race([opened, sleep(waitMs, timer.signal).then(() => `still opening after ${waitMs} ms`)]).finally(() =>
          timer.abort(),
        ));
    if (!service.openIndex)
      add('index_unavailable', 'failing', `the search index is not available: ${why ?? 'not open yet'}`);
  }
  const writes = service.storeWriteFailure();
  if (writes) {
    add(
      'store_write_failing',
      'failing',
      `store writes fail since ${writes.since} (${writes.failures} in a row): ${writes.error} ` +
        '(memories already stored are intact; fix the disk or the database file, and the next write clears this)',
    );
  }
  const open = service.openIndex;
  const state = open?.stats();
  if (state?.recovery && state.state === 'recovering') {
    add(
      'index_recovering',
      'failing',
      `the search index is recovering since ${state.recovery.since}: ${state.recovery.reason} ` +
        `(attempt ${state.recovery.attempts}; semantic search fails meanwhile, hybrid answers by keyword, writes are kept)`,
    );
  } else if (state?.recovery && state.state === 'failed') {
    add(
      'index_failed',
      'failing',
      `the search index is unavailable: ${state.recovery.reason} (restart the server; stored memories are kept, keyword search answers)`,
    );
  }
  const fingerprint = service.providerInfo().fingerprint;
  if (open && open.stats().fingerprint !== fingerprint) {
    add(
      'fingerprint_mismatch',
      'failing',
      `the index was made by ${open.stats().fingerprint}, the provider is ${fingerprint}`,
    );
  }
}

/** The keyword index against the store: building (degraded until done), missing or extra entries (repair fixes). */
async function keywordHealth(service: MemoryService, add: AddReason): Promise<HealthReport['keyword']> {
  const keyword = service.store.keyword;
  if (!keyword) return null;
  const state = await keyword.state();
  const v = await keyword.verify(20);
  if (state.building) {
    add(
      'keyword_index_building',
      'degraded',
      `the keyword index is adding memories stored before it existed: ${state.indexed} of ${state.total} so far`,
    );
  } else if (v.missing > 0 || v.extra > 0) {
    add(
      'keyword_index_mismatch',
      v.missing > 0.1 * Math.max(1, state.total) ? 'failing' : 'degraded',
      `the keyword index lacks ${v.missing} memories and holds ${v.extra} entries of none (index_repair mode "sync" rebuilds it)`,
    );
  }
  return {
    indexed: state.indexed,
    total: state.total,
    building: state.building,
    missing_count: v.missing,
    extra_count: v.extra,
    missing_sample: v.missingSample,
  };
}
