import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { MARKET_CACHE_HEALTH_THRESHOLDS, MARKET_CACHE_STORE } from '../constants.js';
import type { CacheStore } from '../stores/cache-store.js';
import { TieredCache } from '../tiered/tiered-cache.js';
import type { BreakerState } from '../util/circuit-breaker.js';

/** When `CacheHealthIndicator` reports `degraded` (token `MARKET_CACHE_HEALTH_THRESHOLDS`); rates are fractions 0–1. */
export interface CacheHealthThresholds {
  /** Overall hit rate below this is `degraded`. Default 0.2. */
  minHitRate?: number;
  /** Share of requests answered with stale data (SWR + fail-safe) above this is `degraded`. Default 0.5. */
  maxStaleRate?: number;
  /** Rates are judged only after this many requests. Default 100. */
  minRequests?: number;
}

/** Application-level cache figures since start; rates are fractions 0–1. */
export interface CacheHealthDetails {
  status: 'up' | 'degraded';
  /** Why the status is `degraded`. */
  reasons: string[];
  driver: CacheStore['kind'];
  l1: { entries: number; bytes: number; utilization: number };
  hitRate: { overall: number; l1: number; l2: number };
  /** Share of requests answered with stale data (stale-while-revalidate and fail-safe). */
  staleRate: number;
  requests: number;
  breaker?: BreakerState;
  busConnected: boolean;
}

/**
 * Terminus indicator of the cache as the app sees it: L1 utilization, hit rate per tier,
 * stale-serve rate and breaker state. `degraded` (which keeps readiness at 200) when the hit
 * rate falls below, or the stale rate rises above, the configured thresholds, or the breaker
 * is open; never `down`: the cache failing is what the fallbacks are for.
 */
@Injectable()
export class CacheHealthIndicator {
  private readonly thresholds: Required<CacheHealthThresholds>;

  constructor(
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(TieredCache) private readonly tiered: TieredCache,
    @Inject(MARKET_CACHE_STORE) private readonly store: CacheStore,
    @Optional() @Inject(MARKET_CACHE_HEALTH_THRESHOLDS) thresholds?: CacheHealthThresholds,
  ) {
    this.thresholds = { minHitRate: 0.2, maxStaleRate: 0.5, minRequests: 100, ...thresholds };
  }

  /** The Terminus result under `key` (default `cache`): `up` or `degraded`, with the figures. */
  isHealthy<const Key extends string = 'cache'>(
    key: Key = 'cache' as Key,
  ): HealthIndicatorResult<Key> {
    const session = this.indicators.check(key);
    const { status, ...details } = this.figures();
    return status === 'degraded' ? session.degraded(details) : session.up(details);
  }

  /** The current figures and status. */
  figures(): CacheHealthDetails {
    const { total } = this.tiered.getStats();
    const c = {
      l1Hits: total.l1.hits,
      l1Misses: total.l1.misses,
      l2Hits: total.l2.hits,
      l2Misses: total.l2.misses,
    };
    const requests = total.overall.totalRequests;
    const stale = total.swr.staleHits + total.failSafe.served + total.failSafe.throttled;
    const staleRate = requests === 0 ? 0 : round(Math.min(1, stale / requests));
    const breaker = this.store.getStats().breaker;
    const reasons: string[] = [];
    if (requests >= this.thresholds.minRequests) {
      if (total.overall.hitRate < this.thresholds.minHitRate)
        reasons.push(`hit rate ${total.overall.hitRate} below ${this.thresholds.minHitRate}`);
      if (staleRate > this.thresholds.maxStaleRate)
        reasons.push(`stale rate ${staleRate} above ${this.thresholds.maxStaleRate}`);
    }
    if (breaker === 'open') reasons.push('L2 circuit breaker open');
    return {
      status: reasons.length ? 'degraded' : 'up',
      reasons,
      driver: this.store.kind,
      l1: { entries: total.l1.size, bytes: total.l1.bytes, utilization: total.l1.utilization },
      hitRate: {
        overall: total.overall.hitRate,
        l1: rate(c.l1Hits, c.l1Misses),
        l2: rate(c.l2Hits, c.l2Misses),
      },
      staleRate,
      requests,
      breaker,
      busConnected: this.tiered.busConnected,
    };
  }
}

function rate(hits: number, misses: number): number {
  return hits + misses === 0 ? 0 : round(hits / (hits + misses));
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
