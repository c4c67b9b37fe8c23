import { Inject, Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE } from './constants.js';
import { CacheError, CacheValidationError } from './errors/cache-errors.js';
import { assertText } from './util/arguments.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import { CacheKeyType } from './keys/cache-key-type.js';
import { ttlToMs, type TtlInput } from './keys/ttl.js';
import type { ResolvedMarketCacheOptions } from './market-cache.options.js';
import type { CacheStore, StoreDescription } from './stores/cache-store.js';
import type { CacheSource, TieredStatsView, TypeCounters } from './tiered/cache-stats.js';
import { decodeJsonValue } from './tiered/cache-entry.js';
import {
  TieredCache,
  type BatchEntry,
  type Factory,
  type Resolved,
  type TieredCallOptions,
} from './tiered/tiered-cache.js';

/** Outcome of `lookup`: whether a value was found, where, and how long it took. */
export interface CacheResult<T = unknown> {
  success: boolean;
  value: T | undefined;
  error: CacheError | undefined;
  source: CacheSource | undefined;
  /** Epoch ms when the source produced the value. */
  asOf?: number;
  durationMs: number;
}

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

/** Statistics as `getCacheStatistics` returns them. */
export interface CacheStatistics extends TieredStatsView {
  byKeyType: Record<string, TieredStatsView>;
  store: {
    kind: CacheStore['kind'];
    hits: number;
    misses: number;
    errors: number;
    breaker?: string;
  };
  health: Awaited<ReturnType<CacheStore['getHealth']>>;
}

const WINDOW_MS: Record<QuotaWindow, number> = {
  minute: 60_000,
  hourly: 3_600_000,
  daily: 86_400_000,
};

/**
 * The cache as services use it: get-or-set, quotas, sessions, batches, pattern flushes and
 * statistics, over the tiered cache (L1 → L2 → factory).
 */
@Injectable()
export class CacheService {
  private readonly localQuota = new Map<string, { value: number; resetAt: number }>();

  constructor(
    readonly tiered: TieredCache,
    readonly keys: CacheKeyBuilder,
    @Inject(MARKET_CACHE_STORE) private readonly store: CacheStore,
    @Inject(MARKET_CACHE_OPTIONS) private readonly options: ResolvedMarketCacheOptions,
  ) {}

  /**
   * The cached value of `key`, or the factory's (run once per key across callers and instances).
   * `opts.ttl`: seconds, `'5m'`-style duration or a `Date`; default: the key type's TTL.
   */
  getOrSet<T>(key: string, factory: Factory<T>, opts?: TieredCallOptions): Promise<T> {
    return this.tiered.getOrSet(key, factory, opts);
  }

  /** Like `getOrSet`, answering the source (`l1`, `l2`, `file`, `factory`, `stale`) and `asOf` too. */
  getOrSetResult<T>(
    key: string,
    factory: Factory<T>,
    opts?: TieredCallOptions,
  ): Promise<Resolved<T>> {
    return this.tiered.getOrSetResult(key, factory, opts);
  }

  /** Reads `key` without a factory: fresh or SWR-stale values with source and `asOf`, else `undefined`. Throws on a bad key. */
  get<T>(
    key: string,
    opts?: Pick<TieredCallOptions, 'keyType' | 'namespace'>,
  ): Promise<Resolved<T> | undefined> {
    return this.tiered.get<T>(key, opts);
  }

  /** Looks `key` up without a factory: never throws; failures are in `error`. */
  async lookup<T = unknown>(
    key: string,
    opts?: Pick<TieredCallOptions, 'keyType' | 'namespace'>,
  ): Promise<CacheResult<T>> {
    const t0 = performance.now();
    try {
      const r = await this.tiered.get<T>(key, opts);
      return {
        success: r !== undefined,
        value: r?.value,
        error: undefined,
        source: r?.source,
        asOf: r?.asOf,
        durationMs: performance.now() - t0,
      };
    } catch (e) {
      const error =
        e instanceof CacheError
          ? e
          : new CacheError('CACHE_STORE_UNAVAILABLE', 'lookup failed', { cause: e });
      return {
        success: false,
        value: undefined,
        error,
        source: undefined,
        durationMs: performance.now() - t0,
      };
    }
  }

  /** Stores a value (L1 + L2, other instances' L1 evicted). */
  set<T>(key: string, value: T, opts?: TieredCallOptions): Promise<boolean> {
    return this.tiered.set(key, value, opts);
  }

  /** The raw counters of one key type (keys with no type count under `other`); layers above count their own events here. */
  countersOf(keyType: CacheKeyType | undefined): TypeCounters {
    return this.tiered.stats.of(keyType);
  }

  /** Every key type's raw counters (for metrics). */
  counterEntries(): IterableIterator<[string, TypeCounters]> {
    return this.tiered.stats.entries();
  }

  /** Entries and bytes held in this instance's L1. */
  l1Usage(): { entries: number; bytes: number } {
    return { entries: this.tiered.l1.size, bytes: this.tiered.l1.bytes };
  }

  /** Whether the cross-instance invalidation bus is connected (false when there is none). */
  get busConnected(): boolean {
    return this.tiered.busConnected;
  }

  /** What the L2 store is and how it is doing, from memory (no I/O). */
  describeStore(): StoreDescription {
    return this.store.describe();
  }

  /** A fresh L1 entry of a logical key outside any namespace (counted as an L1 hit), else `undefined`; never reads L2. */
  peekFresh<T>(key: string): { value: T; asOf: number } | undefined {
    return this.tiered.peekFresh<T>(key);
  }

  /** Removes a key everywhere. */
  delete(key: string, opts?: Pick<TieredCallOptions, 'namespace'>): Promise<boolean> {
    return this.tiered.delete(key, opts);
  }

  /**
   * Counts one request against `userId`'s quota for `window`, atomically (one Lua script: INCR
   * and, on a new counter, PEXPIRE). When the store cannot answer, a per-instance counter is
   * used (fail-open) and `degraded` is true.
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
    if (counted) return usage(counted.value, max, now + counted.ttlMs, false);
    const local = this.localQuota.get(key);
    const entry = local && local.resetAt > now ? local : { value: 0, resetAt: now + ttlMs };
    entry.value++;
    this.localQuota.set(key, entry);
    if (this.localQuota.size > 10_000)
      for (const [k, v] of this.localQuota) if (v.resetAt <= now) this.localQuota.delete(k);
    return usage(entry.value, max, entry.resetAt, true);
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
    const used = raw === undefined ? (this.localQuota.get(key)?.value ?? 0) : Number(raw) || 0;
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

  /** Stores a user session in the shared store (sliding expiry: each read renews it). */
  async cacheUserSession<T extends object>(
    userId: string,
    session: T,
    ttl?: TtlInput,
  ): Promise<boolean> {
    assertText(userId, 'userId', 256);
    if (typeof session !== 'object' || session === null)
      throw new CacheValidationError('session', 'session must be an object');
    const raw = JSON.stringify(session);
    if (raw.length > this.options.maxValueBytes)
      throw new CacheValidationError(
        'session',
        `session is larger than maxValueBytes (${this.options.maxValueBytes})`,
      );
    return this.store.set(this.sessionKey(userId), raw, this.sessionTtlMs(ttl));
  }

  /** The user's session, renewing its expiry, or `null`. A corrupt session is deleted. */
  async getUserSession<T extends object = Record<string, unknown>>(
    userId: string,
    ttl?: TtlInput,
  ): Promise<T | null> {
    assertText(userId, 'userId', 256);
    const key = this.sessionKey(userId);
    const raw = await this.store.get(key);
    if (raw === undefined) return null;
    const value = decodeJsonValue(raw);
    if (typeof value !== 'object' || value === null) {
      await this.store.delete(key);
      this.tiered.stats.of(CacheKeyType.USER_SESSION).corrupt++;
      return null;
    }
    await this.store.expire(key, this.sessionTtlMs(ttl));
    return value as T;
  }

  /** Removes the user's session. */
  async deleteUserSession(userId: string): Promise<boolean> {
    assertText(userId, 'userId', 256);
    return this.store.delete(this.sessionKey(userId));
  }

  private sessionKey(userId: string): string {
    return this.keys.storageKey(this.keys.userSession(userId));
  }

  private sessionTtlMs(ttl: TtlInput | undefined): number {
    return ttl === undefined
      ? this.tiered.policy.ttlMsFor(CacheKeyType.USER_SESSION)
      : ttlToMs(ttl);
  }

  /** Computed analysis for `ticker`/`analysisType`, cached with the AI-analysis policy (6 h). */
  getAiAnalysisCached<T>(
    ticker: string,
    analysisType: string,
    factory: Factory<T>,
  ): Promise<Resolved<T>> {
    return this.tiered.getOrSetResult(this.keys.aiAnalysis(ticker, analysisType), factory, {
      keyType: CacheKeyType.AI_ANALYSIS,
    });
  }

  /** Values of many logical keys in one batch (L1 first), in order; `undefined` for misses. */
  pipelineGet<T>(keys: readonly string[]): Promise<(T | undefined)[]> {
    return this.tiered.getMany<T>(keys);
  }

  /** Stores many values in one batch (per-entry TTL, key type and max staleness). */
  pipelineSet(entries: readonly BatchEntry[]): Promise<boolean> {
    return this.tiered.setMany(entries);
  }

  /**
   * Removes every key of this module matching a glob relative to the prefix (e.g.
   * `stock_price:*`), on every master, and evicts them from every instance's L1.
   */
  async flushPattern(pattern: string, filter?: (storageKey: string) => boolean): Promise<number> {
    if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > 1024) {
      throw new CacheValidationError(
        'pattern',
        'pattern must be a non-empty string of at most 1024 characters',
      );
    }
    return this.flushStorage(this.keys.pattern(pattern), filter);
  }

  /** Flushes stored keys matching a full storage pattern, evicting them from every L1. */
  async flushStorage(
    storagePattern: string,
    filter?: (storageKey: string) => boolean,
  ): Promise<number> {
    // Up to 1,000 removed keys are evicted one by one from every L1; past that, every L1 is
    // cleared instead (and no more keys are collected: a huge flush stays in bounded memory).
    const removed: string[] = [];
    let many = false;
    const count = await this.store.flushPattern(storagePattern, (k) => {
      if (filter && !filter(k)) return false;
      if (removed.length < 1000) removed.push(k);
      else many = true;
      return true;
    });
    if (many) await this.tiered.clearL1Everywhere();
    else await this.tiered.evictLocalAndRemote(removed);
    return count;
  }

  /** Hit/miss/stale counts per tier and key type, the store's counters and its health. */
  async getCacheStatistics(): Promise<CacheStatistics> {
    const { total, byKeyType } = this.tiered.getStats();
    const s = this.store.getStats();
    return {
      ...total,
      byKeyType,
      store: {
        kind: this.store.kind,
        hits: s.hits,
        misses: s.misses,
        errors: s.errors,
        breaker: s.breaker,
      },
      health: await this.store.getHealth(),
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

function windowEnd(now: number, windowMs: number): number {
  return Math.floor(now / windowMs) * windowMs + windowMs;
}
