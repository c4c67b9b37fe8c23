import { Inject, Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { MARKET_CACHE_STORE } from './constants.js';
import { CacheError, CacheValidationError } from './errors/cache-errors.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import { CacheKeyType } from './keys/cache-key-type.js';
import type { TtlInput } from './keys/ttl.js';
import { QuotaService, type QuotaUsage, type QuotaWindow } from './quota.service.js';
import { SessionService } from './session.service.js';
import type { CacheStore, StoreDescription } from './stores/cache-store.js';
import type { CacheSource, TieredStatsView, TypeCounters } from './tiered/cache-stats.js';
import {
  TieredCache,
  type BatchEntry,
  type Factory,
  type InvalidationResult,
  type Resolved,
  type TieredCallOptions,
} from './tiered/tiered-cache.js';

/**
 * What `CacheService.invalidate` removes: one key (optionally in a namespace); the keys matching a
 * glob relative to the prefix (as `flushPattern`); a full storage pattern narrowed by `filter`;
 * or every key of one entity (ticker), of one key type when given.
 */
export type InvalidationRequest =
  | { key: string; namespace?: string }
  | { pattern: string }
  | { storagePattern: string; filter?: (storageKey: string) => boolean }
  | { entity: string; keyType?: CacheKeyType };

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

/**
 * The cache as services use it: get-or-set, batches, pattern flushes and statistics, over the
 * tiered cache (L1 → L2 → factory); quotas and sessions are delegated to `QuotaService` and
 * `SessionService`.
 */
@Injectable()
export class CacheService {
  constructor(
    @Inject(TieredCache) private readonly tiered: TieredCache,
    @Inject(CacheKeyBuilder) readonly keys: CacheKeyBuilder,
    @Inject(MARKET_CACHE_STORE) private readonly store: CacheStore,
    @Inject(QuotaService) private readonly quotas: QuotaService,
    @Inject(SessionService) private readonly sessions: SessionService,
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

  /** Removes a key everywhere (see `invalidate` for what was done); `true` when L2 held it. */
  delete(key: string, opts?: Pick<TieredCallOptions, 'namespace'>): Promise<boolean> {
    return this.tiered.delete(key, opts);
  }

  /**
   * With a namespace, clears it at once (its old keys are never read again); without one, removes
   * every key of this module (its prefix only; never FLUSHDB). Here and on every instance.
   */
  async clear(namespace?: string): Promise<void> {
    if (namespace === undefined) await this.tiered.clearAll();
    else await this.tiered.clearNamespace(namespace);
  }

  /**
   * When the value of a logical key outside any namespace expires (epoch ms), `undefined` when
   * unknown. From L1 when its entry still has its own expiry (`expiresAt < keepUntil`); an entry
   * whose timeline L1 cut to `l1MaxTtlSeconds` has `expiresAt === keepUntil`, so then the L2 TTL
   * answers (for a key type with a max staleness, that is expiry + staleness), else the L1 one.
   */
  async expiresAt(key: string): Promise<number | undefined> {
    const storageKey = this.keys.storageKey(key);
    const entry = this.tiered.l1.get(storageKey);
    if (entry && entry.expiresAt < entry.keepUntil) return entry.expiresAt;
    const ttlMs = await this.store.ttl(storageKey);
    if (ttlMs > 0) return Date.now() + ttlMs;
    return entry?.expiresAt;
  }

  /** Counts one request against `userId`'s quota (see `QuotaService.trackApiQuota`). */
  trackApiQuota(userId: string, window?: QuotaWindow, limit?: number): Promise<QuotaUsage> {
    return this.quotas.trackApiQuota(userId, window, limit);
  }

  /** The quota usage of `userId` for `window` without counting a request. */
  getApiQuotaUsage(userId: string, window?: QuotaWindow, limit?: number): Promise<QuotaUsage> {
    return this.quotas.getApiQuotaUsage(userId, window, limit);
  }

  /** Stores a user session in the shared store (see `SessionService.cacheUserSession`). */
  cacheUserSession<T extends object>(userId: string, session: T, ttl?: TtlInput): Promise<boolean> {
    return this.sessions.cacheUserSession(userId, session, ttl);
  }

  /** The user's session, renewing its expiry, or `null`. */
  getUserSession<T extends object = Record<string, unknown>>(
    userId: string,
    ttl?: TtlInput,
  ): Promise<T | null> {
    return this.sessions.getUserSession<T>(userId, ttl);
  }

  /** Removes the user's session. */
  deleteUserSession(userId: string): Promise<boolean> {
    return this.sessions.deleteUserSession(userId);
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
   * `stock_price:*`), on every master, and evicts them from every instance's L1 (see `invalidate`
   * for what was done). Answers the count removed from L2.
   */
  async flushPattern(pattern: string, filter?: (storageKey: string) => boolean): Promise<number> {
    if (filter === undefined) return (await this.invalidate({ pattern })).deleted;
    checkedPattern(pattern);
    return (await this.invalidate({ storagePattern: this.keys.pattern(pattern), filter })).deleted;
  }

  /**
   * An invalidation that says what it did. This instance's L1 is evicted at once, whatever Redis
   * does; then L2, then the bus to the other instances. `complete: false` when Redis or the bus
   * did not take it: it is then replayed (L2 removal and bus message) every second and when the
   * bus reconnects, and meanwhile the L2 values it covers are not served by this instance.
   * An entity invalidation evicts only that entity's L1 entries on every instance, at any size.
   */
  async invalidate(request: InvalidationRequest): Promise<InvalidationResult> {
    if ('key' in request) return this.tiered.invalidateKey(request.key, request);
    if ('entity' in request) return this.tiered.invalidateEntity(request.entity, request.keyType);
    if ('pattern' in request) {
      const pattern = this.keys.pattern(checkedPattern(request.pattern));
      return this.tiered.invalidate({ kind: 'pattern', pattern });
    }
    return this.tiered.invalidate({
      kind: 'pattern',
      pattern: request.storagePattern,
      filter: request.filter,
    });
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

/** A caller's relative glob, checked: a non-empty string of at most 1024 characters. */
function checkedPattern(pattern: string): string {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > 1024) {
    throw new CacheValidationError(
      'pattern',
      'pattern must be a non-empty string of at most 1024 characters',
    );
  }
  return pattern;
}
