import { Inject, Injectable } from '@nestjs/common';
import { MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE } from './constants.js';
import { CacheValidationError } from './errors/cache-errors.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import { CacheKeyType } from './keys/cache-key-type.js';
import { CacheTTLPolicy } from './keys/cache-ttl-policy.js';
import { ttlToMs, type TtlInput } from './keys/ttl.js';
import type { ResolvedMarketCacheOptions } from './market-cache.options.js';
import type { CacheStore } from './stores/cache-store.js';
import { decodeJsonValue } from './tiered/cache-entry.js';
import { CacheStats } from './tiered/cache-stats.js';
import { assertText } from './util/arguments.js';

/**
 * User sessions in the shared store only (never in L1, so every instance sees a logout at once),
 * with sliding expiry: each read renews the session's TTL (default: the `user_session` policy TTL).
 */
@Injectable()
export class SessionService {
  constructor(
    @Inject(CacheKeyBuilder) private readonly keys: CacheKeyBuilder,
    @Inject(MARKET_CACHE_STORE) private readonly store: CacheStore,
    @Inject(CacheTTLPolicy) private readonly policy: CacheTTLPolicy,
    @Inject(MARKET_CACHE_OPTIONS) private readonly options: ResolvedMarketCacheOptions,
    @Inject(CacheStats) private readonly stats: CacheStats,
  ) {}

  /** Stores a user session; `ttl`: seconds, `'30m'`-style duration or a `Date`. */
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

  /** The user's session, renewing its expiry, or `null`. A corrupt session is deleted and counted. */
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
      this.stats.of(CacheKeyType.USER_SESSION).corrupt++;
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
    return ttl === undefined ? this.policy.ttlMsFor(CacheKeyType.USER_SESSION) : ttlToMs(ttl);
  }
}
