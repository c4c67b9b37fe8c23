import type { StoreDescription, StoreHealth } from '../cache/index.js';
import type { SourceHealthState } from './source-health.monitor.js';

/**
 * Why the app is `degraded`, as stable codes, most important first: the data source (uncached
 * requests fail), the file store unusable, Redis down, the file store refusing writes, then the
 * cache's own figures (hit or stale rate past its thresholds).
 */
export type HealthReason =
  | 'data_source_down'
  | 'file_store_down'
  | 'redis_down'
  | 'file_store_rejecting_writes'
  | 'cache_degraded';

/** What the overall status is computed from; every part read from memory or a bounded probe. */
export interface HealthParts {
  source?: SourceHealthState;
  /** The L2 store as `describe()` reports it. */
  store: StoreDescription;
  /** True when Redis is the driver and it is down. */
  redisDown: boolean;
  /** True when the cache-health report says `degraded`. */
  cacheDegraded: boolean;
}

/** The reasons of `parts`, most important first (empty when everything is up). */
export function healthReasons(parts: HealthParts): HealthReason[] {
  const out: HealthReason[] = [];
  if (parts.source?.status === 'down') out.push('data_source_down');
  const fileStatus = parts.store.kind === 'file' ? (parts.store.status ?? 'up') : 'up';
  if (fileStatus === 'down') out.push('file_store_down');
  if (parts.redisDown) out.push('redis_down');
  if (fileStatus === 'degraded') out.push('file_store_rejecting_writes');
  // The cache report also degrades for store trouble; name it only when nothing above explains it.
  const storeExplained = parts.redisDown || fileStatus !== 'up';
  if (parts.cacheDegraded && !storeExplained) out.push('cache_degraded');
  return out;
}

/** `services.source` of `/health/detailed`. */
export function sourceService(s: SourceHealthState): Record<string, unknown> {
  return {
    status: s.status,
    name: s.name,
    reason: s.reason ?? null,
    latency_ms: s.latencyMs ?? null,
    checked_at: s.checkedAt ?? null,
    last_error_at: s.lastErrorAt ?? null,
  };
}

/** `services.file` of `/health/detailed`: the store's state and, from its probe, entries and bytes. */
export function fileService(store: StoreDescription, health: StoreHealth): Record<string, unknown> {
  const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    status: store.status ?? (store.ready ? 'up' : 'down'),
    ready: store.ready,
    reason: store.reasons?.[0] ?? null,
    latency_ms: n(health.latencyMs),
    entries: n(health.entries),
    bytes: n(health.bytes),
    categories: n(health.categories),
  };
}
