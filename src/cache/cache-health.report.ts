import { Inject, Injectable, Optional } from '@nestjs/common';
import { CacheService } from './cache.service.js';
import { MARKET_CACHE_HEALTH_THRESHOLDS, MARKET_CACHE_OPTIONS } from './constants.js';
import type { ResolvedMarketCacheOptions } from './market-cache.options.js';
import type { StoreDescription, StoreHealth } from './stores/cache-store.js';
import { withTimeout } from './util/with-timeout.js';

/** Default bound of one store health probe (PING + INFO on Redis), in milliseconds. */
export const STORE_HEALTH_TIMEOUT_MS = 1000;

/** When the cache-health report says `degraded` (token `MARKET_CACHE_HEALTH_THRESHOLDS`); rates are fractions 0–1. */
export interface CacheHealthThresholds {
  /** Overall hit rate below this is `degraded`. Default 0.2. */
  minHitRate?: number;
  /** Share of requests answered with stale data (SWR + fail-safe) above this is `degraded`. Default 0.5. */
  maxStaleRate?: number;
  /** Rates are judged only after this many requests. Default 100. */
  minRequests?: number;
}

/** The thresholds used where none are configured. */
export const DEFAULT_CACHE_HEALTH_THRESHOLDS: Readonly<Required<CacheHealthThresholds>> = {
  minHitRate: 0.2,
  maxStaleRate: 0.5,
  minRequests: 100,
};

/** The cache as this instance sees it, read from memory (no I/O); rates are fractions 0–1. */
export interface CacheHealthSnapshot {
  /**
   * `degraded` when a rate crosses its threshold, the L2 breaker is open, or the store's probe
   * reports reasons (a cluster master down or its breaker open, `redis_rejecting_writes`, Redis
   * not answering); never `down`.
   */
  status: 'up' | 'degraded';
  /** Why the status is `degraded` (empty when `up`). */
  reasons: string[];
  /** The L2 store: kind, mode, readiness and breaker. */
  store: StoreDescription;
  /** L1 entries, bytes, and bytes as a fraction of `l1MaxBytes`. */
  l1: { entries: number; bytes: number; utilization: number };
  /** Hit rates since start: overall (as `getCacheStatistics().overall.hitRate`), per tier. */
  hitRate: { overall: number; l1: number; l2: number };
  /** Share of requests answered with stale data (stale-while-revalidate and fail-safe). */
  staleRate: number;
  /** Requests since start (L1 lookups). */
  requests: number;
  /** Whether the cross-instance invalidation bus is connected. */
  busConnected: boolean;
}

/** A snapshot plus the store's own health, probed within a timeout. */
export interface CacheHealthProbe extends CacheHealthSnapshot {
  /** The store's health; `down` with the reason when it did not answer within the timeout. */
  storeHealth: StoreHealth;
}

/**
 * The one cache-health report: figures, store state and status computed in one place, which the
 * Terminus indicators, `/health/detailed`, `CacheManager.getCacheHealth()` read and present in
 * their own shapes. Stateless: consumers may construct it or have it injected.
 */
@Injectable()
export class CacheHealthReport {
  private readonly thresholds: Required<CacheHealthThresholds>;
  private readonly l1MaxBytes: number;

  constructor(
    @Inject(CacheService) private readonly cache: CacheService,
    @Inject(MARKET_CACHE_OPTIONS) options: Pick<ResolvedMarketCacheOptions, 'l1MaxBytes'>,
    @Optional() @Inject(MARKET_CACHE_HEALTH_THRESHOLDS) thresholds?: CacheHealthThresholds,
  ) {
    this.thresholds = { ...DEFAULT_CACHE_HEALTH_THRESHOLDS, ...thresholds };
    this.l1MaxBytes = options.l1MaxBytes;
  }

  /** The figures and status, from memory (no I/O): safe for readiness probes. */
  snapshot(): CacheHealthSnapshot {
    // Totals over every key type's counters.
    let l1Hits = 0;
    let l1Misses = 0;
    let l2Hits = 0;
    let l2Misses = 0;
    let staleHits = 0;
    let failSafeServed = 0;
    let failSafeThrottled = 0;
    for (const [, c] of this.cache.counterEntries()) {
      l1Hits += c.l1Hits;
      l1Misses += c.l1Misses;
      l2Hits += c.l2Hits;
      l2Misses += c.l2Misses;
      staleHits += c.staleHits;
      failSafeServed += c.failSafeServed;
      failSafeThrottled += c.failSafeThrottled;
    }

    // Rates: every request starts with an L1 lookup; a hit is any answer not from the factory.
    const requests = l1Hits + l1Misses;
    const answered = Math.min(l1Hits + l2Hits + staleHits + failSafeServed, requests);
    const overall = fraction(answered, requests);
    const stale = staleHits + failSafeServed + failSafeThrottled;
    const staleRate = fraction(Math.min(stale, requests), requests);
    const { entries, bytes } = this.cache.l1Usage();
    const store = this.cache.describeStore();

    // Status: rates are judged only past `minRequests`; an open breaker always degrades.
    const t = this.thresholds;
    const reasons: string[] = [];
    if (requests >= t.minRequests) {
      if (overall < t.minHitRate) reasons.push(`hit rate ${overall} below ${t.minHitRate}`);
      if (staleRate > t.maxStaleRate)
        reasons.push(`stale rate ${staleRate} above ${t.maxStaleRate}`);
    }
    if (store.breaker === 'open') reasons.push('L2 circuit breaker open');
    // The store's own probe state: a master down or its breaker open, writes refused, no PONG.
    for (const reason of store.reasons ?? []) reasons.push(reason);
    return {
      status: reasons.length ? 'degraded' : 'up',
      reasons,
      store,
      l1: { entries, bytes, utilization: fraction(bytes, this.l1MaxBytes) },
      hitRate: { overall, l1: fraction(l1Hits, requests), l2: fraction(l2Hits, l2Hits + l2Misses) },
      staleRate,
      requests,
      busConnected: this.cache.busConnected,
    };
  }

  /** The snapshot plus the store's health (PING + INFO on Redis) within `timeoutMs` milliseconds; never throws. */
  async probe(timeoutMs = STORE_HEALTH_TIMEOUT_MS): Promise<CacheHealthProbe> {
    let storeHealth: StoreHealth;
    try {
      const message = `no answer within ${timeoutMs} ms`;
      storeHealth = (await withTimeout(this.cache.getCacheStatistics(), timeoutMs, message)).health;
    } catch (e) {
      const { kind, mode } = this.cache.describeStore();
      const reason = e instanceof Error ? e.message : 'unreachable';
      storeHealth = { status: 'down', kind, connected: false, mode, reason };
    }
    return { ...this.snapshot(), storeHealth };
  }
}

/** `part / whole` rounded to 4 decimals; 0 when `whole` is 0. */
function fraction(part: number, whole: number): number {
  return whole > 0 ? Math.round((part / whole) * 10_000) / 10_000 : 0;
}
