import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE } from './constants.js';
import { CacheValidationError } from './errors/cache-errors.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import { CacheKeyType } from './keys/cache-key-type.js';
import { LocalCounts, type OwedCount } from './util/local-counts.js';
import type { ResolvedMarketCacheOptions } from './market-cache.options.js';
import type { CacheStore } from './stores/cache-store.js';
import { assertText } from './util/arguments.js';
import { RateLimitedLogger, errorSummary } from './util/rate-limited-logger.js';

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

/** Keys whose owed counts one flush adds to the store at once (one script call each). */
const ADD_BACK_BATCH = 64;
/** After a flush the store could not complete, how long successful counts wait before starting another, in ms. */
const FLUSH_BACKOFF_MS = 1000;

/**
 * API quotas and request rates: counters in the shared store (one atomic script per request:
 * INCRBY + PEXPIRE on a new counter), with a per-instance counter (fail-open) while the store
 * cannot answer.
 *
 * - `trackApiQuota`: per-user counters in fixed UTC windows (minute, hour, day).
 * - `trackRate`: a counter per subject (e.g. a client address) in a window of any length that
 *   starts at the subject's first request, for throttling (the app's anonymous throttle).
 *
 * The fallback is bounded: per family an LRU of at most `LOCAL_QUOTA_MAX_KEYS` /
 * `LOCAL_RATE_MAX_KEYS` keys (O(1) per request, no sweep), holding the last count the store
 * answered for each key, continued locally while the store fails (admission bounds in the README).
 *
 * Quota counts taken locally are **added back**: once the store answers again, what each key
 * counted here in a window that has not ended is added to the shared counter with one atomic
 * INCRBY that keeps the counter's TTL — by the key's next request (its own count and the owed ones
 * in one call), or by a background flush (`flushOwed`) for the other keys. Each owed count is taken
 * out before its call and put back when the call fails, so it is added once however flushes and
 * requests interleave; a counter of a later window is never added to (`maxTtlMs`), and owed counts
 * of an ended window, or of a key evicted from the LRU, are dropped (`droppedAddBacks`). Rate
 * counts (`trackRate`) are not added back: their windows are short and anchored on the store's
 * first count, and the store's count takes over when it answers again.
 */
@Injectable()
export class QuotaService implements BeforeApplicationShutdown {
  private readonly localQuota = new LocalCounts(LOCAL_QUOTA_MAX_KEYS, true);
  private readonly localRate = new LocalCounts(LOCAL_RATE_MAX_KEYS, false);
  /** The running flush of owed quota counts, if any. */
  private flushing: Promise<void> | undefined;
  /** Epoch ms before which a successful count does not start a flush (after a failed one). */
  private flushBackoffUntil = 0;
  private readonly log = new RateLimitedLogger(QuotaService.name);

  constructor(
    @Inject(CacheKeyBuilder) private readonly keys: CacheKeyBuilder,
    @Inject(MARKET_CACHE_STORE) private readonly store: CacheStore,
    @Inject(MARKET_CACHE_OPTIONS) private readonly options: ResolvedMarketCacheOptions,
  ) {}

  /**
   * Counts one request against `userId`'s quota for `window`, atomically (one Lua script: INCRBY
   * and, on a new counter, PEXPIRE), with any counts this instance owes the key (added back). When
   * the store cannot answer, a per-instance counter is used (fail-open) and `degraded` is true.
   * `limit` defaults to the module's `apiDailyQuota`.
   */
  async trackApiQuota(
    userId: string,
    window: QuotaWindow = 'daily',
    limit?: number,
  ): Promise<QuotaUsage> {
    const { key, max, windowMs } = this.quotaArgs(userId, window, limit);
    const now = Date.now();
    const ttlMs = windowEnd(now, windowMs) - now;
    const owed = this.localQuota.takeOwed(key, now);
    const counted = await this.count(this.localQuota, key, ttlMs, now, owed, windowMs);
    return usage(counted.count, max, counted.resetAt, counted.degraded);
  }

  /**
   * Counts one request of `subject` (a client address, say) under the counter `name`, in a
   * window of `windowMs` ms that starts at the first request the store counts (the key
   * `api_quota:{subject}:throttle:{name}`, both escaped, with a TTL of the window). Atomic across
   * instances; fail-open per instance while the store cannot answer (`degraded`); the counts
   * taken then are not added back.
   */
  async trackRate(subject: string, name: string, windowMs: number): Promise<RateCount> {
    assertText(subject, 'subject', 256);
    assertText(name, 'name', 64);
    if (!Number.isInteger(windowMs) || windowMs < 1)
      throw new CacheValidationError('windowMs', 'windowMs must be a positive integer (ms)');
    const key = this.keys.storageKey(
      this.keys.build(CacheKeyType.API_QUOTA, subject, 'throttle', name),
    );
    return this.count(this.localRate, key, windowMs, Date.now(), undefined, windowMs);
  }

  /** How many quota keys this instance remembers (at most `LOCAL_QUOTA_MAX_KEYS`). */
  get localKeyCount(): number {
    return this.localQuota.size;
  }

  /** How many rate subjects this instance remembers (at most `LOCAL_RATE_MAX_KEYS`). */
  get localRateKeyCount(): number {
    return this.localRate.size;
  }

  /** Quota requests this instance counted alone (store down) and has not yet added to the store. */
  get pendingAddBacks(): number {
    return this.localQuota.owed;
  }

  /** Quota requests counted alone that were never added to the store: their window ended, or their key left the LRU, first. */
  get droppedAddBacks(): number {
    return this.localQuota.dropped;
  }

  /**
   * Adds every quota count this instance owes the store (counted while it could not answer, in a
   * window that has not ended), one atomic INCRBY per key, `ADD_BACK_BATCH` keys at a time; stops
   * at the first call the store cannot answer (the rest stays owed). One flush runs at a time: a
   * second call gets the running one. Started by itself once the store answers a count again.
   */
  flushOwed(): Promise<void> {
    this.flushing ??= this.addBackOwed()
      .catch((e: unknown) => this.log.warn('add-back', `quota add-back failed: ${errorSummary(e)}`))
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Adds back what is owed before the store closes (best effort; it is closed after this hook). */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.localQuota.owed > 0) await this.flushOwed();
  }

  /** The quota usage of `userId` for `window` without counting a request (owed counts included). */
  async getApiQuotaUsage(
    userId: string,
    window: QuotaWindow = 'daily',
    limit?: number,
  ): Promise<QuotaUsage> {
    const { key, max, windowMs } = this.quotaArgs(userId, window, limit);
    const now = Date.now();
    const [raw, ttl] = await Promise.all([this.store.get(key), this.store.ttl(key)]);
    const local = this.localQuota.peek(key);
    const live = local !== undefined && local.resetAt > now;
    const counted = live && local.local ? local.value : 0;
    const used = raw === undefined ? counted : (Number(raw) || 0) + (live ? local.owed : 0);
    return usage(used, max, ttl > 0 ? now + ttl : windowEnd(now, windowMs), false);
  }

  /**
   * One request counted in the store (`ttlMs` on a new counter) together with `owed` counts taken
   * out of `local` (one atomic add; never into a later window's counter), else by `local`
   * (fail-open, the owed counts put back): the count continues from the last one the store
   * answered for `key` in the same window.
   */
  private async count(
    local: LocalCounts,
    key: string,
    ttlMs: number,
    now: number,
    owed: OwedCount | undefined,
    windowMs: number,
  ): Promise<RateCount> {
    const addBack = owed && { by: owed.amount + 1, maxTtlMs: laterWindowMs(ttlMs, owed.windowMs) };
    let counted = await this.store.increment(key, ttlMs, addBack);
    let pending = owed;
    if (owed && counted?.laterWindow) {
      // A counter of a later window: the owed counts' window is over; this request counts there.
      local.forfeit(owed);
      pending = undefined;
      counted = await this.store.increment(key, ttlMs);
    }
    if (counted) {
      const resetAt = now + counted.ttlMs;
      local.seen(key, counted.value, resetAt, now, windowMs);
      if (local.owed > 0 && now >= this.flushBackoffUntil) void this.flushOwed();
      return { count: counted.value, resetAt, degraded: false };
    }
    if (pending) local.giveBack(key, pending, now);
    const entry = local.hit(key, now, ttlMs, windowMs);
    return { count: entry.value, resetAt: entry.resetAt, degraded: true };
  }

  /** The loop of `flushOwed`; a batch the store could not fully take ends it and holds automatic flushes back a while. */
  private async addBackOwed(): Promise<void> {
    const keys = this.localQuota.owingKeys();
    for (let i = 0; i < keys.length; i += ADD_BACK_BATCH) {
      const batch = keys.slice(i, i + ADD_BACK_BATCH);
      const added = await Promise.all(batch.map((k) => this.addBack(k)));
      if (added.includes(false)) {
        this.flushBackoffUntil = Date.now() + FLUSH_BACKOFF_MS;
        return;
      }
    }
  }

  /** Adds what `key` owes to its counter in the store; `false` when the store could not answer. */
  private async addBack(key: string): Promise<boolean> {
    const now = Date.now();
    const owed = this.localQuota.takeOwed(key, now);
    if (!owed) return true;
    const ttlMs = owed.resetAt - now;
    const maxTtlMs = laterWindowMs(ttlMs, owed.windowMs);
    const r = await this.store.increment(key, ttlMs, { by: owed.amount, maxTtlMs });
    if (!r) this.localQuota.giveBack(key, owed, Date.now());
    else if (r.laterWindow) this.localQuota.forfeit(owed);
    else this.localQuota.seen(key, r.value, now + r.ttlMs, now, owed.windowMs);
    return r !== undefined;
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

/**
 * The most a counter of the same window as counts ending in `ttlMs` ms may still live: more, and
 * it is a later window's (it lives about `windowMs` longer). Half a window of clock skew tolerated.
 */
function laterWindowMs(ttlMs: number, windowMs: number): number {
  return ttlMs + Math.ceil(windowMs / 2);
}
