import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { CacheHealthReport, STORE_HEALTH_TIMEOUT_MS } from '../cache-health.report.js';
import { CacheService } from '../cache.service.js';
import { MARKET_CACHE_OPTIONS } from '../constants.js';
import type { ResolvedMarketCacheOptions } from '../market-cache.options.js';
import type { StoreDescription, StoreHealth, StoreNodeDescription } from '../stores/cache-store.js';
import type { BreakerState } from '../util/circuit-breaker.js';

/** Default bound of one Redis health probe (PING + INFO), in milliseconds. */
export const REDIS_HEALTH_TIMEOUT_MS = STORE_HEALTH_TIMEOUT_MS;

/** What the Redis probe found; no host names, no secrets. */
export interface RedisHealthDetails {
  /** `not_configured` with the memory or file driver (not a failure). */
  status: 'up' | 'down' | 'not_configured';
  configured: boolean;
  connected: boolean;
  /** `standalone`, `cluster` or `sentinel`; the driver kind when Redis is not configured. */
  mode: string;
  /** PING round trip, in milliseconds. */
  latencyMs?: number;
  /** Keyspace hit rate from INFO, in percent (0–100). */
  hitRatePercent?: number;
  usedMemoryBytes?: number;
  /** Used memory as Redis prints it (`1.50M`). */
  usedMemoryHuman?: string;
  /** `maxmemory` in bytes (0 = no limit). */
  maxMemoryBytes?: number;
  evictedKeys?: number;
  connectedClients?: number;
  uptimeSeconds?: number;
  totalCommands?: number;
  breaker?: BreakerState;
  /** Why Redis is down (connection state or timeout), without host names. */
  reason?: string;
  /** Why Redis is not fully healthy (a cluster master down, `redis_rejecting_writes`), from the store's probe. */
  reasons?: string[];
  /** Each cluster master by index and slot ranges: `up`/`down` and its breaker; no host names. */
  nodes?: StoreNodeDescription[];
  /** True while Redis refuses writes (OOM under noeviction, READONLY, …); reads are still served. */
  rejectingWrites?: boolean;
}

/**
 * Terminus indicator of Redis, read from the `CacheHealthReport` probe: PING and INFO within a
 * timeout, reported `up` with mode, latency, keyspace hit rate, used / max memory, evicted keys,
 * clients, uptime and total commands, or `down` (unreachable or timed out) — never a throw. With
 * the memory or file driver, Redis is reported as not configured (`up`, `configured: false`).
 */
@Injectable()
export class RedisHealthIndicator {
  private readonly report: CacheHealthReport;

  constructor(
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(CacheService) private readonly cache: CacheService,
    @Inject(MARKET_CACHE_OPTIONS) options: ResolvedMarketCacheOptions,
  ) {
    this.report = new CacheHealthReport(cache, options);
  }

  /** The Terminus result under `key` (default `redis`); `timeoutMs` bounds the probe (default 1000). */
  async isHealthy<const Key extends string = 'redis'>(
    key: Key = 'redis' as Key,
    timeoutMs = REDIS_HEALTH_TIMEOUT_MS,
  ): Promise<HealthIndicatorResult<Key>> {
    const session = this.indicators.check(key);
    const { status, ...details } = await this.probe(timeoutMs);
    return status === 'down' ? session.down(details) : session.up(details);
  }

  /** Probes Redis (PING + INFO) within `timeoutMs` milliseconds; never throws. */
  async probe(timeoutMs = REDIS_HEALTH_TIMEOUT_MS): Promise<RedisHealthDetails> {
    const { kind } = this.cache.describeStore();
    if (kind !== 'redis')
      return { status: 'not_configured', configured: false, connected: false, mode: kind };
    const { storeHealth, store } = await this.report.probe(timeoutMs);
    return toDetails(storeHealth, store);
  }
}

function toDetails(h: StoreHealth, store: StoreDescription): RedisHealthDetails {
  const n = (v: unknown): number | undefined =>
    typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  const details: RedisHealthDetails = {
    status: h.status,
    configured: true,
    connected: h.connected,
    mode: typeof h.mode === 'string' ? h.mode : 'standalone',
    breaker: store.breaker,
    ...(store.reasons?.length ? { reasons: store.reasons } : {}),
    ...(store.nodes ? { nodes: store.nodes } : {}),
    ...(store.rejectingWrites ? { rejectingWrites: true } : {}),
  };
  if (h.status === 'down')
    return { ...details, reason: typeof h.reason === 'string' ? h.reason : 'unreachable' };
  return {
    ...details,
    latencyMs: n(h.latencyMs),
    hitRatePercent: n(h.hitRatePercent),
    usedMemoryBytes: n(h.usedMemoryBytes),
    usedMemoryHuman: typeof h.usedMemoryHuman === 'string' ? h.usedMemoryHuman : undefined,
    maxMemoryBytes: n(h.maxMemoryBytes),
    evictedKeys: n(h.evictedKeys),
    connectedClients: n(h.connectedClients),
    uptimeSeconds: n(h.uptimeSeconds),
    totalCommands: n(h.totalCommands),
  };
}
