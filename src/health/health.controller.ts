import {
  Controller,
  Get,
  Inject,
  Optional,
  ServiceUnavailableException,
  type BeforeApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import {
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
  type HealthCheckStatus,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import {
  CacheHealthIndicator,
  CacheService,
  MARKET_CACHE_OPTIONS,
  MarketCacheLifecycle,
  RedisHealthIndicator,
  type ResolvedMarketCacheOptions,
  type StoreDescription,
} from '../cache/index.js';
import { fileService, healthReasons, sourceService, type HealthParts } from './health-reasons.js';
import { SourceHealthMonitor } from './source-health.monitor.js';
import { VendorBudgetHealth, withVendorBudget } from '../market/vendor-budget.health.js';

/** Event-loop delay (p99 since the previous liveness probe) past which the process is reported down, in milliseconds. */
export const MAX_EVENT_LOOP_DELAY_MS = 2000;

/** Sampling interval of the event-loop delay histogram, in milliseconds (subtracted from its figures). */
export const EVENT_LOOP_RESOLUTION_MS = 10;

/**
 * Health routes for load balancers and operators:
 * - `/health/live`: the process answers and its event loop is not stalled.
 * - `/health/ready`: 200 while the app can serve. A dependency down while the app still answers
 *   (Redis down with working fallbacks, the file store unusable or refusing writes, the data
 *   source down while cached data is served) is 200 with status `degraded`, `reason`/`reasons`
 *   (`data_source_down`, `file_store_down`, `redis_down`, `file_store_rejecting_writes`,
 *   `cache_degraded`) and the part in the details; 503 only while shutting down, or when Redis is
 *   down and the module says `redisRequired`. Answered from memory (the store's `describe()`, the
 *   source monitor's last check, the cache figures): no I/O per probe.
 * - `/health/detailed`: always 200 (diagnostics): `services.redis`, `services.cache`,
 *   `services.source` and, with the file driver, `services.file`; Redis, the file store and the
 *   source are probed live, each within its bound.
 */
@Controller('health')
export class HealthController implements BeforeApplicationShutdown, OnModuleDestroy {
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({
    resolution: EVENT_LOOP_RESOLUTION_MS,
  });
  private windowStart = Date.now();

  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(RedisHealthIndicator) private readonly redis: RedisHealthIndicator,
    @Inject(CacheHealthIndicator) private readonly cache: CacheHealthIndicator,
    @Inject(CacheService) private readonly store: CacheService,
    @Inject(MarketCacheLifecycle) private readonly lifecycle: MarketCacheLifecycle,
    @Inject(MARKET_CACHE_OPTIONS) private readonly options: ResolvedMarketCacheOptions,
    @Optional()
    @Inject(SourceHealthMonitor)
    private readonly source: SourceHealthMonitor | null = null,
    @Optional()
    @Inject(VendorBudgetHealth)
    private readonly vendorBudget: VendorBudgetHealth | null = null,
  ) {
    this.loop.enable();
  }

  /**
   * Liveness: process uptime and memory, and the event-loop delay since the previous probe:
   * `delayMs.{mean, p50, p99, max}` (how late the loop ran a timer, net of the sampling
   * interval, so an idle loop shows about 0) over `delayWindowMs`. Down when p99 passes
   * `MAX_EVENT_LOOP_DELAY_MS`. A stall shorter than the window shows in `max`, not in the mean.
   */
  @Get('live')
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.eventLoop()]);
  }

  /** Readiness (see the class comment), from memory. */
  @Get('ready')
  ready(): HealthCheckResult & { reason?: string; reasons?: string[] } {
    const store = this.store.describeStore();
    // With the file driver the store is listed as `file`, not as a Redis that is "up".
    const redis: Partial<HealthIndicatorResult<'redis'>> =
      store.kind === 'file' ? {} : this.redisFromMemory();
    const cache = this.cache.isHealthy('cache');
    const source = this.source?.current();
    const details: HealthIndicatorResult = {
      ...redis,
      ...this.fileFromMemory(store),
      ...cache,
      ...(source ? this.sourceResult(source) : {}),
    };
    const parts: HealthParts = {
      source,
      store,
      redisDown: redis.redis?.status === 'down',
      cacheDegraded: cache.cache.status === 'degraded',
    };
    const { status, reasons } = this.overall(parts);
    const result = {
      status,
      ...(reasons.length ? { reason: reasons[0], reasons } : {}),
      info: Object.fromEntries(Object.entries(details).filter(([, v]) => v.status !== 'down')),
      error: Object.fromEntries(Object.entries(details).filter(([, v]) => v.status === 'down')),
      details,
    };
    if (status === 'error' || status === 'shutting_down')
      throw new ServiceUnavailableException(result);
    return result;
  }

  /**
   * Diagnostics: Redis (status, connected, hit rate, memory, commands, uptime, clients), cache
   * figures, the data source and (file driver) the file store, each probed live within its bound.
   */
  @Get('detailed')
  async detailed(): Promise<Record<string, unknown>> {
    const isFile = this.store.describeStore().kind === 'file';
    const [redis, file, source] = await Promise.all([
      this.redis.probe(),
      isFile ? this.cache.probeStore() : undefined,
      this.source?.check(),
    ]);
    const cache = this.cache.figures();
    const store = file?.store ?? this.store.describeStore();
    const { status, reasons } = this.overall({
      source,
      store,
      redisDown: redis.status === 'down',
      cacheDegraded: cache.status === 'degraded',
    });
    return withVendorBudget(this.vendorBudget ?? undefined, {
      status,
      ...(reasons.length ? { reason: reasons[0], reasons } : {}),
      timestamp: new Date().toISOString(),
      uptime_seconds: Math.round(process.uptime()),
      services: {
        redis: {
          status: redis.status,
          connected: redis.connected,
          mode: redis.mode,
          latency_ms: redis.latencyMs ?? null,
          hit_rate_percent: redis.hitRatePercent ?? null,
          memory_usage: redis.usedMemoryHuman ?? null,
          used_memory_bytes: redis.usedMemoryBytes ?? null,
          max_memory_bytes: redis.maxMemoryBytes ?? null,
          evicted_keys: redis.evictedKeys ?? null,
          total_commands: redis.totalCommands ?? null,
          uptime_seconds: redis.uptimeSeconds ?? null,
          connected_clients: redis.connectedClients ?? null,
          breaker: redis.breaker ?? null,
          ...(redis.reason ? { reason: redis.reason } : {}),
        },
        cache: {
          status: cache.status,
          reasons: cache.reasons,
          driver: cache.driver,
          l1_entries: cache.l1.entries,
          l1_bytes: cache.l1.bytes,
          l1_utilization: cache.l1.utilization,
          hit_rate_percent: percent(cache.hitRate.overall),
          l1_hit_rate_percent: percent(cache.hitRate.l1),
          l2_hit_rate_percent: percent(cache.hitRate.l2),
          stale_rate_percent: percent(cache.staleRate),
          requests: cache.requests,
          breaker: cache.breaker ?? null,
          bus_connected: cache.busConnected,
        },
        ...(file ? { file: fileService(file.store, file.health) } : {}),
        ...(source ? { source: sourceService(source) } : {}),
      },
    });
  }

  beforeApplicationShutdown(): void {
    this.lifecycle.beginShutdown();
  }

  onModuleDestroy(): void {
    this.loop.disable();
  }

  /**
   * Redis as the store last saw it (`describe()`: connection state, breaker and its background
   * probe's status, reasons, latency and masters), without a command.
   */
  private redisFromMemory(): HealthIndicatorResult<'redis'> {
    const session = this.indicators.check('redis');
    const d = this.store.describeStore();
    if (d.kind !== 'redis')
      return session.up({ configured: false, connected: false, mode: d.kind });
    const details = {
      configured: true,
      connected: d.ready,
      mode: d.mode,
      breaker: d.breaker,
      ...(d.latencyMs !== undefined ? { latencyMs: d.latencyMs } : {}),
      ...(d.reasons?.length ? { reasons: d.reasons } : {}),
      ...(d.nodes ? { nodes: d.nodes } : {}),
      ...(d.rejectingWrites ? { rejectingWrites: true } : {}),
    };
    if (d.ready && d.status !== 'down') return session.up(details);
    return session.down({ ...details, reason: d.reasons?.[0] ?? 'not connected' });
  }

  /** The file store as it last saw itself (`describe()`), under `file`; nothing with another driver. */
  private fileFromMemory(
    d: StoreDescription,
  ): HealthIndicatorResult<'file'> | Record<string, never> {
    if (d.kind !== 'file') return {};
    const session = this.indicators.check('file');
    const details = {
      ready: d.ready,
      state: d.status ?? (d.ready ? 'up' : 'down'),
      ...(d.reasons?.length ? { reason: d.reasons[0] } : {}),
      ...(d.latencyMs !== undefined ? { latencyMs: d.latencyMs } : {}),
    };
    if (d.status === 'down' || !d.ready) return session.down(details);
    return d.status === 'degraded' ? session.degraded(details) : session.up(details);
  }

  /** The data source as its monitor last saw it, under `source`. */
  private sourceResult(
    s: ReturnType<SourceHealthMonitor['current']>,
  ): HealthIndicatorResult<'source'> {
    const session = this.indicators.check('source');
    const { status, ...details } = s;
    return status === 'down' ? session.down(details) : session.up(details);
  }

  /**
   * The overall status word of `ready` and `detailed` and its reasons: shutting down, else Redis
   * down when required (`error`), else `degraded` when any reason applies, else `ok`.
   */
  private overall(parts: HealthParts): { status: HealthCheckStatus; reasons: string[] } {
    const reasons = healthReasons(parts);
    if (this.lifecycle.shuttingDown) return { status: 'shutting_down', reasons };
    if (parts.redisDown && this.options.redisRequired) return { status: 'error', reasons };
    return { status: reasons.length ? 'degraded' : 'ok', reasons };
  }

  private eventLoop(): HealthIndicatorResult<'event_loop'> {
    const session = this.indicators.check('event_loop');
    const sampled = this.loop.count > 0;
    // The histogram records whole sampling intervals (resolution + delay): keep only the delay.
    const ms = (ns: number) =>
      sampled && Number.isFinite(ns)
        ? Math.max(0, Math.round((ns / 1e6 - EVENT_LOOP_RESOLUTION_MS) * 100) / 100)
        : 0;
    const p99 = ms(this.loop.percentile(99));
    const now = Date.now();
    const details = {
      delayMs: {
        mean: ms(this.loop.mean),
        p50: ms(this.loop.percentile(50)),
        p99,
        max: ms(this.loop.max),
      },
      delayWindowMs: now - this.windowStart,
      uptimeSeconds: Math.round(process.uptime()),
      rssBytes: process.memoryUsage.rss(),
    };
    this.loop.reset();
    this.windowStart = now;
    return p99 > MAX_EVENT_LOOP_DELAY_MS ? session.down(details) : session.up(details);
  }
}

function percent(fraction: number): number {
  return Math.round(fraction * 10_000) / 100;
}
