import type { CacheKeyBuilder } from '../keys/cache-key-builder.js';
import type { CacheStore } from '../stores/cache-store.js';
import { RedisCache } from '../stores/redis/redis-cache.js';
import type { RedisClient } from '../stores/redis/redis-connection.js';
import { withScript } from '../stores/redis/redis-scripts.js';
import { budgetStorageKey } from './store-refresh-budget.js';

/** Most keys a waiting list holds; past it the least demanded go first. */
export const MAX_WAITING_REFRESHES = 10_000;

/** Members taken off per `ZREM`. */
const WITHDRAW_BATCH = 500;

/** A refresh waiting somewhere in the fleet, and how much it is asked for. */
export interface WaitingRefresh {
  key: string;
  /** The demand its instance announced; higher goes first. Compare only scores of one scale. */
  score: number;
}

/**
 * Refreshes waiting for a budget's tokens across the fleet, so that when tokens come back the
 * most demanded refresh runs first whichever instance holds it. Each instance announces the
 * refreshes it defers and withdraws them once run or dropped; an instance about to spend a token
 * on a cooler refresh of its own first looks at the top of the list.
 */
export interface RefreshWaitingList {
  /** True when other instances see the list (Redis); false when it is this instance's alone. */
  readonly shared: boolean;
  /** Puts `key` on list `name` with `score` (kept as the highest announced), for two windows of `windowMs`. */
  announce(name: string, key: string, score: number, windowMs: number): Promise<void>;
  /** The highest-scored key of list `name`, or undefined when it is empty or cannot be read. */
  top(name: string): Promise<WaitingRefresh | undefined>;
  /** Takes `keys` off list `name`. */
  withdraw(name: string, keys: readonly string[]): Promise<void>;
}

/**
 * Keeps the highest score of a member, trims the set to the most demanded, renews its TTL.
 * KEYS[1]: the sorted set. ARGV: member, score, TTL in ms, most members.
 */
const ANNOUNCE_SCRIPT = `
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not current or tonumber(current) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

type WaitingListClient = RedisClient & {
  mcWaitingAnnounce(key: string, ...args: (string | number)[]): Promise<number>;
};

/**
 * The waiting list kept in the module's store: on Redis, one sorted set per budget,
 * `{prefix}:api_quota:{{name}}:budget:waiting` (the budget's hash tag, so one slot on a cluster;
 * members are logical keys, at most `maxEntries`, TTL two windows from the last
 * announcement), through the store's guarded path; a call Redis cannot answer is skipped (the
 * instance then orders by its own demand only). With the memory or file driver there is one
 * instance: nothing is kept and `top` answers undefined.
 */
export class StoreRefreshWaitingList implements RefreshWaitingList {
  constructor(
    private readonly store: CacheStore,
    private readonly keys: CacheKeyBuilder,
    /** Most keys kept per list (the least demanded go first). Default `MAX_WAITING_REFRESHES`. */
    private readonly maxEntries = MAX_WAITING_REFRESHES,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError('maxEntries must be a positive integer');
  }

  get shared(): boolean {
    return this.store instanceof RedisCache;
  }

  async announce(name: string, key: string, score: number, windowMs: number): Promise<void> {
    if (!(this.store instanceof RedisCache) || !Number.isFinite(score)) return;
    const list = this.listKey(name);
    const ttlMs = Math.max(1000, 2 * Math.ceil(windowMs));
    await this.store.guard(
      'budget',
      0,
      (c) =>
        withScript<WaitingListClient>(c, 'mcWaitingAnnounce', 1, ANNOUNCE_SCRIPT).mcWaitingAnnounce(
          list,
          key,
          score,
          ttlMs,
          this.maxEntries,
        ),
      list,
    );
  }

  async top(name: string): Promise<WaitingRefresh | undefined> {
    if (!(this.store instanceof RedisCache)) return undefined;
    const list = this.listKey(name);
    const [key, score] = await this.store.guard<string[]>(
      'budget',
      [],
      (c) => c.zrevrange(list, 0, 0, 'WITHSCORES'),
      list,
    );
    return key === undefined || score === undefined ? undefined : { key, score: Number(score) };
  }

  async withdraw(name: string, keys: readonly string[]): Promise<void> {
    const store = this.store;
    if (!(store instanceof RedisCache)) return;
    const list = this.listKey(name);
    for (let i = 0; i < keys.length; i += WITHDRAW_BATCH) {
      const batch = keys.slice(i, i + WITHDRAW_BATCH);
      await store.guard('budget', 0, (c) => c.zrem(list, ...batch), list);
    }
  }

  private listKey(name: string): string {
    return budgetStorageKey(this.keys, name, 'waiting');
  }
}
