import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE } from './constants.js';
import { CacheValidationError } from './errors/cache-errors.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import { CacheKeyType } from './keys/cache-key-type.js';
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

/** Most rate subjects (e.g. client addresses) whose count this instance remembers for `trackRate`'s fallback. */
export const LOCAL_RATE_MAX_KEYS = 10_000;

/** One request counted by `trackRate`. */
export interface RateCount {
  /** Requests counted in the current window, this one included. */
  count: number;
  /** When the window ends (epoch ms). */
  resetAt: number;
  /** True when the shared store could not answer and this instance counted alone (fail-open). */
  degraded: boolean;
}

/** What this instance remembers of one counter: the last count (from the store, or its own while degraded). */
interface LocalCount {
  value: number;
  /** Epoch ms at which the count's window ends. */
  resetAt: number;
  /** True once this instance counted the key itself (the store could not answer). */
  local: boolean;
}

/**
 * The per-instance fallback of a family of counters: an LRU of at most `max` keys (O(1) per hit,
 * no sweep) holding the last count the store answered for each key, continued locally while the
 * store cannot answer.
 */
class LocalCounts {
  private readonly lru: LRUCache<string, LocalCount>;

  constructor(max: number) {
    this.lru = new LRUCache<string, LocalCount>({ max });
  }

  /** Remembers the store's count of `key`. */
  seen(key: string, value: number, resetAt: number): void {
    this.lru.set(key, { value, resetAt, local: false });
  }

  /** Counts one request of `key` here: continues the remembered count while its window lasts, else starts a window of `ttlMs`. */
  hit(key: string, now: number, ttlMs: number): LocalCount {
    const known = this.lru.get(key);
    const entry: LocalCount =
      known && known.resetAt > now
        ? { value: known.value + 1, resetAt: known.resetAt, local: true }
        : { value: 1, resetAt: now + ttlMs, local: true };
    this.lru.set(key, entry);
    return entry;
  }

  /** The remembered count of `key`, without touching its recency. */
  peek(key: string): LocalCount | undefined {
    return this.lru.peek(key);
  }

  get size(): number {
    return this.lru.size;
  }
}

/**
 * API quotas and request rates: counters in the shared store (one atomic INCR + PEXPIRE per
 * request), with a per-instance counter (fail-open) while the store cannot answer.
 *
 * - `trackApiQuota`: per-user counters in fixed UTC windows (minute, hour, day).
 * - `trackRate`: a counter per subject (e.g. a client address) in a window of any length that
 *   starts at the subject's first request, for throttling (the app's anonymous throttle).
 *
 * The fallback is bounded: per family an LRU of at most `LOCAL_QUOTA_MAX_KEYS` /
 * `LOCAL_RATE_MAX_KEYS` keys (O(1) per request, no sweep), holding the last count the store
 * answered for each key. While the store fails, a key continues from that count, so on one
 * instance a key at its limit is admitted **0** more times (`limit` + 0 in the window). Across a
 * fleet each instance continues from the last count it saw itself, so the extra admissions are at
 * most the requests the other instances counted since; a key this instance has never seen in the
 * window (or evicted past the LRU's size) starts from 0 and can be admitted up to `limit` times per
 * instance.
 */
@Injectable()
export class QuotaService {
  private readonly localQuota = new LocalCounts(LOCAL_QUOTA_MAX_KEYS);
  private readonly localRate = new LocalCounts(LOCAL_RATE_MAX_KEYS);

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
    const counted = await this.count(this.localQuota, key, windowEnd(now, windowMs) - now, now);
    return usage(counted.count, max, counted.resetAt, counted.degraded);
  }

  /**
   * Counts one request of `subject` (a client address, say) under the counter `name`, in a
   * window of `windowMs` ms that starts at the first request the store counts (the key
   * `api_quota:{subject}:throttle:{name}`, both escaped, with a TTL of the window). Atomic across
   * instances; fail-open per instance while the store cannot answer (`degraded`).
   */
  async trackRate(subject: string, name: string, windowMs: number): Promise<RateCount> {
    assertText(subject, 'subject', 256);
    assertText(name, 'name', 64);
    if (!Number.isInteger(windowMs) || windowMs < 1)
      throw new CacheValidationError('windowMs', 'windowMs must be a positive integer (ms)');
    const key = this.keys.storageKey(
      this.keys.build(CacheKeyType.API_QUOTA, subject, 'throttle', name),
    );
    return this.count(this.localRate, key, windowMs, Date.now());
  }

  /** How many quota keys this instance remembers (at most `LOCAL_QUOTA_MAX_KEYS`). */
  get localKeyCount(): number {
    return this.localQuota.size;
  }

  /** How many rate subjects this instance remembers (at most `LOCAL_RATE_MAX_KEYS`). */
  get localRateKeyCount(): number {
    return this.localRate.size;
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

  /**
   * One request counted in the store (`ttlMs` on a new counter), else by `local` (fail-open):
   * the count continues from the last one the store answered for `key` in the same window.
   */
  private async count(
    local: LocalCounts,
    key: string,
    ttlMs: number,
    now: number,
  ): Promise<RateCount> {
    const counted = await this.store.increment(key, ttlMs);
    if (counted) {
      const resetAt = now + counted.ttlMs;
      local.seen(key, counted.value, resetAt);
      return { count: counted.value, resetAt, degraded: false };
    }
    const entry = local.hit(key, now, ttlMs);
    return { count: entry.value, resetAt: entry.resetAt, degraded: true };
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
