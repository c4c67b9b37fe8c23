import { randomUUID } from 'node:crypto';
import { CacheKeyBuilder } from '../keys/cache-key-builder.js';
import { CacheKeyType } from '../keys/cache-key-type.js';
import type { CacheStore } from '../stores/cache-store.js';
import { RedisCache } from '../stores/redis/redis-cache.js';
import type { RedisClient } from '../stores/redis/redis-connection.js';
import { withScript } from '../stores/redis/redis-scripts.js';
import {
  DAY_MS,
  LocalRefreshBudget,
  normalizeLimits,
  reserveOf,
  type BudgetGrant,
  type BudgetLimits,
  type BudgetTakeOptions,
  type RefreshBudget,
} from './refresh-budget.js';

/**
 * One take of a shared budget, atomically, on Redis's clock (`TIME`, so instances with skewed
 * clocks agree). KEYS[1]: the sorted set of grant times in the window (one member per token);
 * KEYS[2]: the hash `{day, used}` of today's count. ARGV: cost, perWindow, perDay (-1 = none),
 * windowMs, tokens the window must keep, tokens the day must keep, a unique id.
 * Answers `{granted 0|1, remaining, retryAfterMs}`. Both keys carry a TTL.
 */
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local perWindow = tonumber(ARGV[2])
local perDay = tonumber(ARGV[3])
local windowMs = tonumber(ARGV[4])
local keepWindow = tonumber(ARGV[5])
local keepDay = tonumber(ARGV[6])
local dayMs = ${DAY_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - windowMs)
local leftWindow = perWindow - redis.call('ZCARD', KEYS[1])
local day = math.floor(now / dayMs)
local d = redis.call('HMGET', KEYS[2], 'day', 'used')
local usedToday = 0
if tonumber(d[1]) == day then usedToday = tonumber(d[2]) or 0 end
local leftDay = perDay - usedToday
if perDay < 0 then leftDay = leftWindow end
local left = math.min(leftWindow, leftDay)
if leftWindow - cost >= keepWindow and leftDay - cost >= keepDay then
  for i = 1, cost do redis.call('ZADD', KEYS[1], now, ARGV[7] .. ':' .. i) end
  redis.call('PEXPIRE', KEYS[1], windowMs + 1000)
  redis.call('HSET', KEYS[2], 'day', day, 'used', usedToday + cost)
  redis.call('PEXPIRE', KEYS[2], (day + 1) * dayMs - now + 60000)
  return {1, left - cost, 0}
end
local wait = windowMs
if perDay >= 0 and leftDay - cost < keepDay then
  wait = (day + 1) * dayMs - now
else
  local oldest = redis.call('ZRANGE', KEYS[1], cost + keepWindow - leftWindow - 1, cost + keepWindow - leftWindow - 1, 'WITHSCORES')
  if oldest[2] then wait = tonumber(oldest[2]) + windowMs - now end
end
if left < 0 then left = 0 end
if wait < 1 then wait = 1 end
return {0, left, wait}`;

type BudgetClient = RedisClient & {
  mcBudgetTake(
    windowKey: string,
    dayKey: string,
    ...args: (string | number)[]
  ): Promise<[number, number, number]>;
};

/**
 * Storage key `part` of budget `name`: `{prefix}:api_quota:{{name}}:budget:{part}` (one hash tag
 * per budget, so all its keys share a cluster slot).
 */
export function budgetStorageKey(keys: CacheKeyBuilder, name: string, part: string): string {
  const entity = `{${CacheKeyBuilder.escape(name)}}`;
  return keys.storageKey(keys.build(CacheKeyType.API_QUOTA, entity, 'budget', part));
}

/** Options of `StoreRefreshBudget`. */
export interface StoreRefreshBudgetOptions {
  /** Instances expected to share the budget: while the store cannot answer, each takes from limit ÷ this (rounded down). Default 1. */
  expectedInstances?: number;
}

/**
 * The budget shared through the module's store: on Redis, one Lua script per take (the module's
 * connection, through the store's guarded path: timeout, breaker, error count); with the memory
 * or file driver, or while Redis cannot answer, this instance's share (`LocalRefreshBudget`).
 * Keys: `{prefix}:api_quota:{{name}}:budget:window` and `…:budget:day` (one hash tag, one slot on
 * a cluster), each with a TTL.
 */
export class StoreRefreshBudget implements RefreshBudget {
  private readonly local: LocalRefreshBudget;

  constructor(
    private readonly store: CacheStore,
    private readonly keys: CacheKeyBuilder,
    options: StoreRefreshBudgetOptions = {},
  ) {
    this.local = new LocalRefreshBudget(options.expectedInstances ?? 1);
  }

  /** True when takes are shared through the store (Redis); false when each instance counts alone. */
  get shared(): boolean {
    return this.store instanceof RedisCache;
  }

  async take(
    name: string,
    cost: number,
    limits: BudgetLimits,
    options: BudgetTakeOptions = {},
  ): Promise<BudgetGrant> {
    if (!Number.isInteger(cost) || cost < 0)
      throw new RangeError('cost must be a non-negative integer');
    const store = this.store;
    if (!(store instanceof RedisCache)) return this.local.take(name, cost, limits, options);
    const { perWindow, perDay, windowMs } = normalizeLimits(limits);
    const windowKey = budgetStorageKey(this.keys, name, 'window');
    const dayKey = budgetStorageKey(this.keys, name, 'day');
    const answer = await store.guard<[number, number, number] | undefined>(
      'budget',
      undefined,
      (c) =>
        withScript<BudgetClient>(c, 'mcBudgetTake', 2, TAKE_SCRIPT).mcBudgetTake(
          windowKey,
          dayKey,
          cost,
          perWindow,
          Number.isFinite(perDay) ? perDay : -1,
          windowMs,
          reserveOf(perWindow, options.keepFraction),
          reserveOf(perDay, options.keepFraction),
          randomUUID(),
        ),
      windowKey,
    );
    if (!answer) return this.local.take(name, cost, limits, options);
    const [granted, remaining, retryAfterMs] = answer.map(Number);
    return { granted: granted === 1, remaining, retryAfterMs, scope: 'shared' };
  }
}
