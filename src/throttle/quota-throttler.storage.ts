import { Inject, Injectable } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { QuotaService } from '../cache/index.js';

/** What `ThrottlerStorage.increment` answers (the record type is not exported by `@nestjs/throttler`). */
export type ThrottlerRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * `@nestjs/throttler` storage on the cache module's atomic counters (`QuotaService.trackRate`):
 * one INCR + PEXPIRE (Lua) per hit in the shared store under
 * `{prefix}:api_quota:{key}:throttle:{throttlerName}` (both escaped by `CacheKeyBuilder`, TTL =
 * the window), so every instance on the same Redis counts against one limit. While the store
 * cannot answer, each instance counts alone in a bounded LRU (`LOCAL_RATE_MAX_KEYS`, O(1) per
 * hit) that continues from the last count the store answered (fail-open, never an error).
 *
 * A window starts at a key's first hit and lasts `ttl` ms; past `limit` the key is blocked until
 * its window ends (`timeToBlockExpire` = `timeToExpire`, the throttler's default block of one
 * window). A `blockDuration` other than that is not supported and is ignored.
 */
@Injectable()
export class QuotaThrottlerStorage implements ThrottlerStorage {
  constructor(@Inject(QuotaService) private readonly quotas: QuotaService) {}

  /** Counts one hit of `key`; `ttl` is the window in ms; times in the answer are whole seconds (at least 1). */
  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerRecord> {
    const hit = await this.quotas.trackRate(key, throttlerName, Math.max(1, Math.ceil(ttl)));
    const timeToExpire = Math.max(1, Math.ceil((hit.resetAt - Date.now()) / 1000));
    const isBlocked = hit.count > limit;
    return {
      totalHits: hit.count,
      timeToExpire,
      isBlocked,
      timeToBlockExpire: isBlocked ? timeToExpire : 0,
    };
  }
}
