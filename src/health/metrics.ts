// GET /metrics: Prometheus text exposition from a registry of this server instance's own (never
// prom-client's global one, so two servers in one process do not mix). Gauges and the backfill
// counter read their sources at scrape time (collect()): nothing polls between scrapes. Tool
// calls are timed by the call chain's measure step (tools/call-chain.ts).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BackfillJob } from '../backfill/backfill-job.js';
import type { BreakerStatus } from '../embeddings/circuit-breaker.js';
import type { MemoryService } from '../memory/memory-service.js';
import type { StoreStats } from '../store/types.js';
import type { LoopMonitor } from './health-report.js';

export interface MetricsSources {
  service: MemoryService;
  backfill?: BackfillJob | undefined;
  circuit?: (() => BreakerStatus) | undefined;
  loop?: LoopMonitor | undefined;
  /** Open MCP sessions by transport. */
  sessions: () => { streamable: number; sse: number };
}

/** Seconds; tool calls range from a cached get (sub-millisecond) to a large batch embedded remotely. */
const CALL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const CIRCUIT_STATES = ['closed', 'half_open', 'open'] as const;
const INDEX_TYPES = ['Flat', 'IVF', 'HNSW'] as const;

export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly calls: Histogram<'tool' | 'outcome'>;
  /** The store's counts, read once per scrape however many gauges use them. */
  private stats: Promise<StoreStats | null> | undefined;

  constructor(private readonly src: MetricsSources) {
    const registers = [this.registry];
    const storeStats = () => this.storeStats();
    /**
     * A gauge of one value read at scrape time; NaN while `read` has none (an unlabelled metric
     * cannot be left out, and 0 would be a false reading: no queue while the store is down).
     */
    const single = (name: string, help: string, read: () => number | undefined | Promise<number | undefined>) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set((await read()) ?? NaN);
        },
      });
    this.calls = new Histogram({
      name: 'vmm_tool_call_duration_seconds',
      help: 'MCP tool calls by tool and outcome (error: the call answered isError, a timeout included)',
      labelNames: ['tool', 'outcome'],
      buckets: CALL_BUCKETS,
      registers,
    });
    /** A state as a gauge per value, 1 on the current one (absent while `read` has none). */
    const oneOf = (
      name: string,
      help: string,
      label: string,
      values: readonly string[],
      read: () => string | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          const current = read();
          if (current !== undefined) for (const v of values) this.set({ [label]: v }, v === current ? 1 : 0);
        },
      });
    single(
      'vmm_store_up',
      '1 when the store answered this scrape, 0 when it did not (the memory gauges are then absent or NaN)',
      async () => ((await storeStats()) ? 1 : 0),
    );
    new Gauge({
      name: 'vmm_memories',
      help: 'memories in the store by embedding status',
      labelNames: ['status'],
      registers,
      async collect() {
        this.reset();
        const s = await storeStats();
        if (!s) return;
        for (const status of ['pending', 'done', 'failed'] as const) this.set({ status }, s[status]);
      },
    });
    single(
      'vmm_backfill_queue',
      'memories waiting for an embedding (the backfill works through them)',
      async () => (await storeStats())?.pending,
    );
    const index = () => src.service.openIndex?.stats();
    single('vmm_index_open', '1 when the search index is open and serving', () => (index()?.state === 'ready' ? 1 : 0));
    oneOf(
      'vmm_index_type',
      "the served index type: 1 on the type in use (Flat: exact; IVF: approximate; HNSW: FalkorDB's index)",
      'type',
      INDEX_TYPES,
      () => index()?.type,
    );
    single('vmm_index_vectors', 'live vectors in the search index (tombstoned ones not counted)', () => index()?.live);
    single(
      'vmm_index_tombstones',
      'deleted vectors still held by the search index until its next compaction',
      () => index()?.tombstones,
    );
    const backfill = src.backfill;
    if (backfill) {
      new Counter({
        name: 'vmm_backfill_records_total',
        help: 'records the backfill processed since start, by outcome',
        labelNames: ['outcome'],
        registers,
        collect() {
          const p = backfill.processed();
          this.reset();
          for (const outcome of ['embedded', 'failed', 'skipped'] as const) this.inc({ outcome }, p[outcome]);
        },
      });
      single('vmm_backfill_running', '1 while a backfill run is in progress', () =>
        backfill.processed().running ? 1 : 0,
      );
    }
    const circuit = src.circuit;
    if (circuit) {
      oneOf(
        'vmm_embedding_circuit_state',
        "the embedding provider's circuit breaker: 1 on its current state",
        'state',
        CIRCUIT_STATES,
        () => circuit().state,
      );
      new Counter({
        name: 'vmm_embedding_circuit_opened_total',
        help: 'times the circuit breaker opened since start',
        registers,
        collect() {
          this.reset();
          this.inc(circuit().times_opened);
        },
      });
    }
    new Gauge({
      name: 'vmm_mcp_sessions',
      help: 'open MCP sessions by transport',
      labelNames: ['transport'],
      registers,
      collect() {
        const open = src.sessions();
        this.set({ transport: 'streamable_http' }, open.streamable);
        this.set({ transport: 'sse' }, open.sse);
      },
    });
    const loop = src.loop;
    if (loop) {
      single(
        'vmm_event_loop_delay_p99_seconds',
        'event-loop delay, 99th percentile since start (late answers to every client when high)',
        () => loop.figures().p99_ms / 1000,
      );
    }
    single('process_resident_memory_bytes', 'resident memory of the process', () => process.memoryUsage.rss());
  }

  /** The call chain's observer (tools/call-chain.ts measure). */
  readonly observeCall = (tool: string, outcome: 'ok' | 'error', seconds: number): void => {
    this.calls.observe({ tool, outcome }, seconds);
  };

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; the store is asked once for it. */
  async scrape(): Promise<string> {
    this.stats = undefined;
    try {
      return await this.registry.metrics();
    } finally {
      this.stats = undefined;
    }
  }

  private storeStats(): Promise<StoreStats | null> {
    this.stats ??= this.src.service.store.stats().catch(() => null);
    return this.stats;
  }
}
