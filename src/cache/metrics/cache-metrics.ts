import { Inject, Injectable, Optional } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CacheService } from '../cache.service.js';
import { MARKET_CACHE_METRICS_OPTIONS, MARKET_CACHE_STORE } from '../constants.js';
import { QuotaGuard } from '../guards/quota.guard.js';
import type { CacheStore } from '../stores/cache-store.js';
import { TieredCache } from '../tiered/tiered-cache.js';

/** Options of `CacheMetrics` (token `MARKET_CACHE_METRICS_OPTIONS`). */
export interface CacheMetricsOptions {
  /** Prefix of every metric name. Default `market_cache_`. */
  prefix?: string;
  /** Also collect prom-client's default process metrics into this registry. Default false. */
  defaultMetrics?: boolean;
  /** Buckets of the latency and factory duration histograms, in seconds. Default 0.5 ms … 10 s. */
  latencyBucketsSeconds?: number[];
}

const DEFAULT_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const BREAKER_STATES = ['closed', 'half-open', 'open'] as const;

/**
 * Prometheus metrics of the cache, in a registry of its own (never prom-client's global one, so
 * two apps in one process do not collide).
 *
 * Hit / miss / stale / fail-safe / error counters are read from the cache service's counters at
 * scrape time (`collect()`), so serving a request pays nothing for them; the gauges read the same
 * L1 usage, store description and bus state as `CacheHealthReport`. The latency histogram
 * is fed by the HTTP cache interceptor and by `time()`, never on the L1-hit path of the cache;
 * the factory duration histogram by the tiered cache after each factory run (misses and
 * refreshes only). Quota rejections are read from the app's `QuotaGuard` when it has one.
 */
@Injectable()
export class CacheMetrics {
  /** The registry `/metrics` exposes. */
  readonly registry = new Registry();
  private readonly latency: Histogram<'operation' | 'tier'>;

  constructor(
    @Inject(CacheService) cache: CacheService,
    @Inject(MARKET_CACHE_STORE) store: CacheStore,
    @Optional() @Inject(MARKET_CACHE_METRICS_OPTIONS) options?: CacheMetricsOptions,
    @Optional() @Inject(TieredCache) tiered?: TieredCache,
    @Optional() @Inject(QuotaGuard) quotaGuard?: QuotaGuard,
  ) {
    const p = options?.prefix ?? 'market_cache_';
    const registers = [this.registry];
    const counters = () => cache.counterEntries();
    const fromStats = (
      fill: (set: (labels: Record<string, string>, value: number) => void) => void,
    ) =>
      function (this: Counter<string>) {
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      };

    new Counter({
      name: `${p}hits_total`,
      help: 'Cache hits by tier (l1, l2) and key type',
      labelNames: ['tier', 'key_type'],
      registers,
      collect: fromStats((set) => {
        for (const [type, c] of counters()) {
          set({ tier: 'l1', key_type: type }, c.l1Hits);
          set({ tier: 'l2', key_type: type }, c.l2Hits);
        }
      }),
    });
    new Counter({
      name: `${p}misses_total`,
      help: 'Cache misses by tier (l1, l2) and key type',
      labelNames: ['tier', 'key_type'],
      registers,
      collect: fromStats((set) => {
        for (const [type, c] of counters()) {
          set({ tier: 'l1', key_type: type }, c.l1Misses);
          set({ tier: 'l2', key_type: type }, c.l2Misses);
        }
      }),
    });
    new Counter({
      name: `${p}stale_served_total`,
      help: 'Stale values served while refreshing (stale-while-revalidate, soft timeout) by key type',
      labelNames: ['key_type'],
      registers,
      collect: fromStats((set) => {
        for (const [type, c] of counters()) set({ key_type: type }, c.staleHits);
      }),
    });
    new Counter({
      name: `${p}fail_safe_total`,
      help: 'Stale values served because the source failed (served) or within the fail-safe throttle (throttled), by key type',
      labelNames: ['kind', 'key_type'],
      registers,
      collect: fromStats((set) => {
        for (const [type, c] of counters()) {
          set({ kind: 'served', key_type: type }, c.failSafeServed);
          set({ kind: 'throttled', key_type: type }, c.failSafeThrottled);
        }
      }),
    });
    new Counter({
      name: `${p}errors_total`,
      help: 'Errors by tier and kind: l2 store errors (all key types), corrupt l2 values, factory failures, background refresh failures',
      labelNames: ['tier', 'kind', 'key_type'],
      registers,
      collect: fromStats((set) => {
        set({ tier: 'l2', kind: 'store', key_type: 'all' }, store.getStats().errors);
        for (const [type, c] of counters()) {
          set({ tier: 'l2', kind: 'corrupt', key_type: type }, c.corrupt);
          set({ tier: 'factory', kind: 'factory', key_type: type }, c.factoryErrors);
          set({ tier: 'factory', kind: 'refresh', key_type: type }, c.refreshFailures);
        }
      }),
    });
    new Counter({
      name: `${p}factory_calls_total`,
      help: 'Factory (source) calls on a miss, and background refreshes, by key type',
      labelNames: ['kind', 'key_type'],
      registers,
      collect: fromStats((set) => {
        for (const [type, c] of counters()) {
          set({ kind: 'miss', key_type: type }, c.factoryCalls);
          set({ kind: 'refresh', key_type: type }, c.backgroundRefreshes);
        }
      }),
    });

    new Gauge({
      name: `${p}l1_entries`,
      help: 'Entries held in the L1 memory tier',
      registers,
      collect() {
        this.set(cache.l1Usage().entries);
      },
    });
    new Gauge({
      name: `${p}l1_bytes`,
      help: 'Bytes held in the L1 memory tier (serialized sizes plus per-entry overhead)',
      registers,
      collect() {
        this.set(cache.l1Usage().bytes);
      },
    });
    new Gauge({
      name: `${p}breaker_state`,
      help: 'Circuit breaker of the L2 store: 1 for the current state (closed, half-open, open), else 0',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const current = store.describe().breaker;
        if (current === undefined) return;
        for (const s of BREAKER_STATES) this.set({ state: s }, s === current ? 1 : 0);
      },
    });
    new Gauge({
      name: `${p}redis_up`,
      help: 'Whether the Redis client is connected and ready (1) or not (0); absent when the driver is not redis',
      registers,
      collect() {
        this.reset();
        const { kind, ready } = store.describe();
        if (kind === 'redis') this.set(ready ? 1 : 0);
      },
    });
    new Counter({
      name: `${p}redis_write_refusals_total`,
      help: 'Writes Redis refused (OOM under noeviction, READONLY, MISCONF, NOREPLICAS); also in errors_total',
      registers,
      collect: fromStats((set) => {
        const refused = store.getStats().writeRefusals;
        if (refused !== undefined) set({}, refused);
      }),
    });
    new Gauge({
      name: `${p}redis_rejecting_writes`,
      help: 'Whether Redis refuses writes now (1) or not (0), from the store probe; absent when the driver is not redis',
      registers,
      collect() {
        this.reset();
        const { kind, rejectingWrites } = store.describe();
        if (kind === 'redis') this.set(rejectingWrites ? 1 : 0);
      },
    });
    new Gauge({
      name: `${p}redis_master_up`,
      help: 'Each Redis Cluster master (by index and slot ranges) answering the store probe (1) or not (0)',
      labelNames: ['master', 'slots'],
      registers,
      collect() {
        this.reset();
        for (const n of store.describe().nodes ?? [])
          this.set({ master: String(n.index), slots: n.slots }, n.status === 'up' ? 1 : 0);
      },
    });
    new Gauge({
      name: `${p}redis_latency_seconds`,
      help: "Round trip of the store probe's last Redis PING (the slowest master on a cluster), in seconds; absent before the first probe and when the driver is not redis",
      registers,
      collect() {
        this.reset();
        const { kind, latencyMs } = store.describe();
        if (kind === 'redis' && latencyMs !== undefined) this.set(latencyMs / 1000);
      },
    });
    new Counter({
      name: `${p}quota_rejections_total`,
      help: 'Requests refused (429) because their API key went past its quota',
      registers,
      collect: fromStats((set) => set({}, quotaGuard?.rejections ?? 0)),
    });
    new Gauge({
      name: `${p}bus_connected`,
      help: 'Whether the cross-instance invalidation bus is connected (1) or not (0)',
      registers,
      collect() {
        this.set(cache.busConnected ? 1 : 0);
      },
    });
    this.latency = new Histogram({
      name: `${p}operation_duration_seconds`,
      help: 'Duration of cache operations by operation and tier/source (l1, l2, factory, stale), in seconds',
      labelNames: ['operation', 'tier'],
      buckets: options?.latencyBucketsSeconds ?? DEFAULT_BUCKETS_SECONDS,
      registers,
    });
    const factoryRuns = new Histogram({
      name: `${p}factory_duration_seconds`,
      help: 'Duration of factory (source) runs by key type, kind (miss, refresh) and outcome (ok, error), in seconds',
      labelNames: ['key_type', 'kind', 'outcome'],
      buckets: options?.latencyBucketsSeconds ?? DEFAULT_BUCKETS_SECONDS,
      registers,
    });
    tiered?.stats.onFactoryRun((keyType, kind, seconds, ok) =>
      factoryRuns.observe({ key_type: keyType, kind, outcome: ok ? 'ok' : 'error' }, seconds),
    );
    if (options?.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Records one operation's duration, in seconds. Keep `operation` and `tier` to a small fixed set (they are labels). */
  observe(operation: string, tier: string, seconds: number): void {
    this.latency.observe({ operation, tier }, seconds);
  }

  /** Runs `fn` and records its duration under `operation` / `tier` (also when it throws). */
  async time<T>(operation: string, tier: string, fn: () => Promise<T>): Promise<T> {
    const end = this.latency.startTimer({ operation, tier });
    try {
      return await fn();
    } finally {
      end();
    }
  }

  /** The Content-Type of the exposition text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The metrics in the Prometheus text exposition format. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
