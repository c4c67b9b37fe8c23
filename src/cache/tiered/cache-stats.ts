import { ALL_KEY_TYPES, type CacheKeyType } from '../keys/cache-key-type.js';

/** Where a value came from, as `CacheResult.source` reports it. */
export type CacheSource = 'l1' | 'l2' | 'file' | 'factory' | 'stale';

/** Raw counters of one key type (or of keys with no type). */
export interface TypeCounters {
  l1Hits: number;
  l1Misses: number;
  l2Hits: number;
  l2Misses: number;
  l2Errors: number;
  corrupt: number;
  staleHits: number;
  backgroundRefreshes: number;
  refreshFailures: number;
  failSafeServed: number;
  failSafeThrottled: number;
  factoryCalls: number;
  factoryErrors: number;
  /** Writes L2 refused because it held an entry with a larger `asOf` (monotonic writes). */
  keptNewer: number;
  /** Range cache: requests fully served from cache / partly / not at all. */
  rangeHits: number;
  rangePartials: number;
  rangeMisses: number;
}

/** Statistics in the shape `CacheService.getCacheStatistics()` returns, per key type and in total. */
export interface TieredStatsView {
  l1: { hits: number; misses: number; size: number; bytes: number; utilization: number };
  l2: { hits: number; misses: number; errors: number; corrupt: number };
  swr: { staleHits: number; backgroundRefreshes: number; refreshFailures: number };
  failSafe: { served: number; throttled: number };
  range: { hits: number; partials: number; misses: number };
  overall: { hitRate: number; totalRequests: number };
}

const OTHER = 'other';

/** Hears one factory run: its key type (`other` for none), why it ran, its duration in seconds, and whether it answered a value. */
export type FactoryRunListener = (
  keyType: string,
  kind: 'miss' | 'refresh',
  seconds: number,
  ok: boolean,
) => void;

function zero(): TypeCounters {
  return {
    l1Hits: 0,
    l1Misses: 0,
    l2Hits: 0,
    l2Misses: 0,
    l2Errors: 0,
    corrupt: 0,
    staleHits: 0,
    backgroundRefreshes: 0,
    refreshFailures: 0,
    failSafeServed: 0,
    failSafeThrottled: 0,
    factoryCalls: 0,
    factoryErrors: 0,
    keptNewer: 0,
    rangeHits: 0,
    rangePartials: 0,
    rangeMisses: 0,
  };
}

/** Per-key-type counters of the tiered cache; `of(type)` is a map lookup on the hot path. */
export class CacheStats {
  private readonly byType = new Map<string, TypeCounters>();
  private readonly factoryListeners: FactoryRunListener[] = [];

  constructor() {
    for (const t of ALL_KEY_TYPES) this.byType.set(t, zero());
    this.byType.set(OTHER, zero());
  }

  /** The counters of `type` (keys with no type count under `other`). */
  of(type: CacheKeyType | undefined): TypeCounters {
    return this.byType.get(type ?? OTHER) as TypeCounters;
  }

  /** The stats view: total plus one per key type. */
  view(l1: { size: number; bytes: number; maxBytes: number }): {
    total: TieredStatsView;
    byKeyType: Record<string, TieredStatsView>;
  } {
    const total = zero();
    const byKeyType: Record<string, TieredStatsView> = {};
    for (const [type, c] of this.byType) {
      for (const k of Object.keys(total) as (keyof TypeCounters)[]) total[k] += c[k];
      byKeyType[type] = shape(c);
    }
    const t = shape(total);
    t.l1.size = l1.size;
    t.l1.bytes = l1.bytes;
    t.l1.utilization = l1.maxBytes > 0 ? Math.round((l1.bytes / l1.maxBytes) * 10_000) / 10_000 : 0;
    return { total: t, byKeyType };
  }

  /** Calls `listener` after every factory run (metrics: factory durations); runs are timed only while one listens. */
  onFactoryRun(listener: FactoryRunListener): void {
    this.factoryListeners.push(listener);
  }

  /** True while a listener wants factory runs. */
  get observesFactoryRuns(): boolean {
    return this.factoryListeners.length > 0;
  }

  /** Reports one factory run to the listeners. */
  factoryRan(
    type: CacheKeyType | undefined,
    kind: 'miss' | 'refresh',
    seconds: number,
    ok: boolean,
  ): void {
    for (const listener of this.factoryListeners) listener(type ?? OTHER, kind, seconds, ok);
  }

  /** Raw counters per type (for metrics). */
  entries(): IterableIterator<[string, TypeCounters]> {
    return this.byType.entries();
  }
}

function shape(c: TypeCounters): TieredStatsView {
  const requests = c.l1Hits + c.l1Misses;
  const hits = c.l1Hits + c.l2Hits + c.staleHits + c.failSafeServed;
  return {
    l1: { hits: c.l1Hits, misses: c.l1Misses, size: 0, bytes: 0, utilization: 0 },
    l2: { hits: c.l2Hits, misses: c.l2Misses, errors: c.l2Errors, corrupt: c.corrupt },
    swr: {
      staleHits: c.staleHits,
      backgroundRefreshes: c.backgroundRefreshes,
      refreshFailures: c.refreshFailures,
    },
    failSafe: { served: c.failSafeServed, throttled: c.failSafeThrottled },
    range: { hits: c.rangeHits, partials: c.rangePartials, misses: c.rangeMisses },
    overall: {
      hitRate:
        requests === 0 ? 0 : Math.round((Math.min(hits, requests) / requests) * 10_000) / 10_000,
      totalRequests: requests,
    },
  };
}
