import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import {
  CacheHealthReport,
  STORE_HEALTH_TIMEOUT_MS,
  type CacheHealthThresholds,
} from '../cache-health.report.js';
import { CacheService } from '../cache.service.js';
import { MARKET_CACHE_HEALTH_THRESHOLDS, MARKET_CACHE_OPTIONS } from '../constants.js';
import type { ResolvedMarketCacheOptions } from '../market-cache.options.js';
import type { CacheStore, StoreDescription, StoreHealth } from '../stores/cache-store.js';
import type { BreakerState } from '../util/circuit-breaker.js';

export type { CacheHealthThresholds } from '../cache-health.report.js';

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
 * Terminus indicator of the cache as the app sees it (the `CacheHealthReport` snapshot): L1
 * utilization, hit rate per tier, stale-serve rate and breaker state. `degraded` (which keeps
 * readiness at 200) when the hit rate falls below, or the stale rate rises above, the configured
 * thresholds, or the breaker is open; never `down`: the cache failing is what the fallbacks are for.
 */
@Injectable()
export class CacheHealthIndicator {
  private readonly report: CacheHealthReport;

  constructor(
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(CacheService) cache: CacheService,
    @Inject(MARKET_CACHE_OPTIONS) options: ResolvedMarketCacheOptions,
    @Optional() @Inject(MARKET_CACHE_HEALTH_THRESHOLDS) thresholds?: CacheHealthThresholds,
  ) {
    this.report = new CacheHealthReport(cache, options, thresholds);
  }

  /** The Terminus result under `key` (default `cache`): `up` or `degraded`, with the figures. */
  isHealthy<const Key extends string = 'cache'>(
    key: Key = 'cache' as Key,
  ): HealthIndicatorResult<Key> {
    const session = this.indicators.check(key);
    const { status, ...details } = this.figures();
    return status === 'degraded' ? session.degraded(details) : session.up(details);
  }

  /**
   * Probes the L2 store within `timeoutMs` milliseconds (Redis: PING + INFO; file store: its
   * writability probe, at most once per 5 s), then reads its description, which the probe may have
   * just updated. Never throws: no answer in time is `down` with the reason.
   */
  async probeStore(
    timeoutMs = STORE_HEALTH_TIMEOUT_MS,
  ): Promise<{ health: StoreHealth; store: StoreDescription }> {
    const { storeHealth } = await this.report.probe(timeoutMs);
    return { health: storeHealth, store: this.report.snapshot().store };
  }

  /** The current figures and status, from memory (no I/O). */
  figures(): CacheHealthDetails {
    const s = this.report.snapshot();
    return {
      status: s.status,
      reasons: s.reasons,
      driver: s.store.kind,
      l1: s.l1,
      hitRate: s.hitRate,
      staleRate: s.staleRate,
      requests: s.requests,
      breaker: s.store.breaker,
      busConnected: s.busConnected,
    };
  }
}
