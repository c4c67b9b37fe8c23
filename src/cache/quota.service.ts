import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE } from './constants.js';
import { CacheValidationError } from './errors/cache-errors.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import type { ResolvedMarketCacheOptions } from './market-cache.options.js';
import type { CacheStore } from './stores/cache-store.js';
import { assertText } from './util/arguments.js';

/** Quota windows: fixed windows ending at the next UTC minute, hour or midnight. */
export type QuotaWindow = 'minute' | 'hourly' | 'daily';

/** Usage of an API quota after (or without) counting one request. */
export interface QuotaUsage {
  used: number;
  limit: number;
  remaining: number;
  /** True while `used` ≤ `limit`. */
  allowed: boolean;
  /** When the window resets (epoch ms). */
  resetAt: number;
  /** Seconds until the window resets. */
  resetInSeconds: number;
  /** True when the shared store could not answer and a per-instance counter was used (fail-open). */
  degraded: boolean;
}

const WINDOW_MS: Record<QuotaWindow, number> = {
  minute: 60_000,
  hourly: 3_600_000,
  daily: 86_400_000,
};

/** Most quota keys whose count this instance remembers (for the fail-open fallback); least recently used go first. */
export const LOCAL_QUOTA_MAX_KEYS = 10_000;

/** What this instance remembers of one quota key: the last count (from the store, or its own while degraded). */
interface LocalCount {
  value: number;
  /** Epoch ms at which the count's window ends. */
  resetAt: number;
  /** True once this instance counted the key itself (the store could not answer). */
  local: boolean;
}

/**
 * API quotas: per-user request counters in fixed UTC windows, counted atomically in the shared
 * store, with a per-instance counter (fail-open) while the store cannot answer.
 *
 * The fallback is bounded: an LRU of at most `LOCAL_QUOTA_MAX_KEYS` keys (O(1) per request, no
 * sweep), holding the last count the store answered for each key. While the store fails, a key
 * continues from that count, so on one instance a key at its limit is admitted **0** more times
 * (`limit` + 0 in the window). Across a fleet each instance continues from the last count it saw
 * itself, so the extra admissions are at most the requests the other instances counted since; a
 * key this instance has never seen in the window (or evicted past `LOCAL_QUOTA_MAX_KEYS`) starts
 * from 0 and can be admitted up to `limit` times per instance.
 */
@Injectable()
export class QuotaService {
  private readonly localQuota = new LRUCache<string, LocalCount>({ max: LOCAL_QUOTA_MAX_KEYS });

  constructor(
    @Inject(CacheKeyBuilder) private readonly keys: CacheKeyBuilder,
    @Inject(MARKET_CACHE_STORE) private readonly store: CacheStore,
    @Inject(MARKET_CACHE_OPTIONS) private readonly options: ResolvedMarketCacheOptions,
  ) {}

  /**
   * Counts one request against `userId`'s quota for `window`, atomically (one Lua script: INCR
   * and, on a new counter, PEXPIRE). When the store cannot answer, a per-instance counter is
   * used (fail-open) and `degraded` is true. `limit` defaults to the module's `apiDailyQuota`.
   */
  async trackApiQuota(
    userId: string,
    window: QuotaWindow = 'daily',
    limit?: number,
  ): Promise<QuotaUsage> {
    const { key, max, windowMs } = this.quotaArgs(userId, window, limit);
    const now = Date.now();
    const ttlMs = windowEnd(now, windowMs) - now;
    const counted = await this.store.increment(key, ttlMs);
    if (counted) {
      const resetAt = now + counted.ttlMs;
      this.localQuota.set(key, { value: counted.value, resetAt, local: false });
      return usage(counted.value, max, resetAt, false);
    }
    // The store could not count: continue this instance's count for the same window, from the
    // last count the store answered (0 when none is remembered for this window).
    const known = this.localQuota.get(key);
    const entry: LocalCount =
      known && known.resetAt > now
        ? { value: known.value + 1, resetAt: known.resetAt, local: true }
        : { value: 1, resetAt: now + ttlMs, local: true };
    this.localQuota.set(key, entry);
    return usage(entry.value, max, entry.resetAt, true);
  }

  /** How many quota keys this instance remembers (at most `LOCAL_QUOTA_MAX_KEYS`). */
  get localKeyCount(): number {
    return this.localQuota.size;
  }

  /** The quota usage of `userId` for `window` without counting a request. */
  async getApiQuotaUsage(
    userId: string,
    window: QuotaWindow = 'daily',
    limit?: number,
  ): Promise<QuotaUsage> {
    const { key, max, windowMs } = this.quotaArgs(userId, window, limit);
    const now = Date.now();
    const [raw, ttl] = await Promise.all([this.store.get(key), this.store.ttl(key)]);
    const local = this.localQuota.peek(key);
    const counted = local?.local === true && local.resetAt > now ? local.value : 0;
    const used = raw === undefined ? counted : Number(raw) || 0;
    return usage(used, max, ttl > 0 ? now + ttl : windowEnd(now, windowMs), false);
  }

  private quotaArgs(
    userId: string,
    window: QuotaWindow,
    limit: number | undefined,
  ): { key: string; max: number; windowMs: number } {
    assertText(userId, 'userId', 256);
    if (!(window in WINDOW_MS))
      throw new CacheValidationError(
        'window',
        `window must be one of ${Object.keys(WINDOW_MS).join(', ')}`,
      );
    const max = limit ?? this.options.apiDailyQuota;
    if (!Number.isInteger(max) || max < 0)
      throw new CacheValidationError('limit', 'limit must be a non-negative integer');
    return {
      key: this.keys.storageKey(this.keys.apiQuota(userId, window)),
      max,
      windowMs: WINDOW_MS[window],
    };
  }
}

function usage(used: number, limit: number, resetAt: number, degraded: boolean): QuotaUsage {
  return {
    used,
    limit,
    remaining: Math.max(0, limit - used),
    allowed: used <= limit,
    resetAt,
    resetInSeconds: Math.max(0, Math.ceil((resetAt - Date.now()) / 1000)),
    degraded,
  };
}

/** The end (epoch ms) of the fixed window of `windowMs` that holds `now`. */
function windowEnd(now: number, windowMs: number): number {
  return Math.floor(now / windowMs) * windowMs + windowMs;
}
