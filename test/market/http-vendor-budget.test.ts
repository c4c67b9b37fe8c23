/**
 * Issue 14, the shared refresh budget: a sliding-window log (no window of `windowMs` ever holds
 * more than `perWindow` grants), a daily cap, a reserve refreshes leave to misses; atomic across
 * instances on one Redis (one Lua script), keys with TTLs; with Redis down each instance takes
 * from its share (limit ÷ expected instances).
 */
import { Redis } from 'ioredis';
import { CacheKeyBuilder } from '../../src/cache/keys/cache-key-builder.js';
import {
  DAY_MS,
  LocalRefreshBudget,
  SourceBudgetExhaustedError,
  budgetErrorOf,
} from '../../src/cache/budget/refresh-budget.js';
import { StoreRefreshBudget } from '../../src/cache/budget/store-refresh-budget.js';
import { FactoryError } from '../../src/cache/errors/cache-errors.js';
import { MemoryStore } from '../../src/cache/stores/memory-store.js';
import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { freePort } from '../harness/redis-server.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix } from '../support/cache-context.js';

describe('LocalRefreshBudget (in-process sliding window)', () => {
  it('grants at most perWindow in any window and says when the next token returns', async () => {
    let now = 1_000_000;
    const budget = new LocalRefreshBudget(1, () => now);
    const limits = { perWindow: 3, windowMs: 1000 };
    const granted: number[] = [];
    // 40 takes spread over 4 s at uneven steps.
    for (let i = 0; i < 40; i++) {
      now += [30, 70, 120, 10][i % 4];
      const g = await budget.take('v', 1, limits);
      if (g.granted) granted.push(now);
      else {
        // Refused only with 3 grants in the trailing second (no token lost), until the oldest leaves.
        expect(granted.filter((u) => u > now - 1000)).toHaveLength(3);
        expect(g.retryAfterMs).toBe(granted[granted.length - 3] + 1000 - now);
      }
    }
    for (const t of granted)
      expect(granted.filter((u) => u > t - 1000 && u <= t).length).toBeLessThanOrEqual(3);
    expect(granted.length).toBeGreaterThan(6);
  });

  it('keeps the miss reserve from refreshes', async () => {
    const budget = new LocalRefreshBudget(1, () => 5000);
    const limits = { perWindow: 10, windowMs: 60_000 };
    let refreshes = 0;
    while ((await budget.take('v', 1, limits, { keepFraction: 0.2 })).granted) refreshes++;
    expect(refreshes).toBe(8);
    expect((await budget.take('v', 1, limits)).granted).toBe(true);
    expect((await budget.take('v', 1, limits)).granted).toBe(true);
    const last = await budget.take('v', 1, limits);
    expect(last).toMatchObject({ granted: false, remaining: 0, retryAfterMs: 60_000 });
  });

  it('caps a UTC day and waits until midnight', async () => {
    let now = 3 * DAY_MS + 1000;
    const budget = new LocalRefreshBudget(1, () => now);
    const limits = { perWindow: 100, perDay: 2, windowMs: 1000 };
    expect((await budget.take('v', 1, limits)).granted).toBe(true);
    expect((await budget.take('v', 1, limits)).granted).toBe(true);
    const refused = await budget.take('v', 1, limits);
    expect(refused).toMatchObject({ granted: false, retryAfterMs: DAY_MS - 1000 });
    now = 4 * DAY_MS;
    expect((await budget.take('v', 1, limits)).granted).toBe(true);
  });

  it('takes from its share with a divisor', async () => {
    const budget = new LocalRefreshBudget(3, () => 0);
    let n = 0;
    while ((await budget.take('v', 1, { perWindow: 10 })).granted) n++;
    expect(n).toBe(3);
  });

  it('finds a budget error wrapped in a factory error', () => {
    const e = new SourceBudgetExhaustedError('vendor', 1500);
    expect(budgetErrorOf(new FactoryError('k', e))).toBe(e);
    expect(budgetErrorOf(new Error('x'))).toBeUndefined();
    expect(e.retryAfterSeconds).toBe(2);
  });
});

describe('StoreRefreshBudget on Redis (two instances, one budget)', () => {
  const stores: RedisCache[] = [];
  let redis: Redis;
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.disconnect()));
    redis?.disconnect();
  });

  async function store(url: string, commandTimeoutMs = 2000): Promise<RedisCache> {
    const s = new RedisCache({ url, commandTimeoutMs, connectTimeoutMs: 500 });
    stores.push(s);
    await s.connect();
    return s;
  }

  it('grants exactly perWindow across instances under concurrency, with TTLs on its keys', async () => {
    const prefix = uniquePrefix('bud');
    const keys = new CacheKeyBuilder(prefix);
    const a = new StoreRefreshBudget(await store(testRedis().url), keys, { expectedInstances: 2 });
    const b = new StoreRefreshBudget(await store(testRedis().url), keys, { expectedInstances: 2 });
    const limits = { perWindow: 10, perDay: 1000, windowMs: 30_000 };
    const grants = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).take('vendor', 1, limits)),
    );
    expect(grants.filter((g) => g.granted)).toHaveLength(10);
    expect(grants.every((g) => g.scope === 'shared')).toBe(true);
    const refused = grants.filter((g) => !g.granted);
    for (const g of refused) {
      expect(g.remaining).toBe(0);
      expect(g.retryAfterMs).toBeGreaterThan(0);
      expect(g.retryAfterMs).toBeLessThanOrEqual(30_000);
    }
    redis = new Redis(testRedis().url);
    const stored = await redis.keys(`${prefix}:*`); // test-only inspection of its own prefix
    expect(stored.sort()).toEqual([
      `${prefix}:api_quota:{vendor}:budget:day`,
      `${prefix}:api_quota:{vendor}:budget:window`,
    ]);
    for (const k of stored) expect(await redis.pttl(k)).toBeGreaterThan(0);
    expect(await redis.hget(`${prefix}:api_quota:{vendor}:budget:day`, 'used')).toBe('10');
    // A read (cost 0) takes nothing.
    expect(await a.take('vendor', 0, limits)).toMatchObject({ granted: true, remaining: 0 });
  });

  it('keeps the miss reserve from refreshes on the shared budget', async () => {
    const keys = new CacheKeyBuilder(uniquePrefix('bud'));
    const a = new StoreRefreshBudget(await store(testRedis().url), keys);
    const limits = { perWindow: 5, windowMs: 30_000 };
    let refreshes = 0;
    while ((await a.take('vendor', 1, limits, { keepFraction: 0.4 })).granted) refreshes++;
    expect(refreshes).toBe(3);
    expect((await a.take('vendor', 1, limits)).granted).toBe(true);
    expect((await a.take('vendor', 1, limits)).granted).toBe(true);
    expect((await a.take('vendor', 1, limits)).granted).toBe(false);
  });

  it('falls back to the instance share when Redis cannot answer', async () => {
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    const budget = new StoreRefreshBudget(await store(deadUrl, 200), new CacheKeyBuilder('x'), {
      expectedInstances: 4,
    });
    const grants = [];
    for (let i = 0; i < 6; i++) grants.push(await budget.take('vendor', 1, { perWindow: 10 }));
    expect(grants.map((g) => g.granted)).toEqual([true, true, false, false, false, false]);
    expect(grants.every((g) => g.scope === 'local')).toBe(true);
  });

  it('counts in-process with the memory driver', async () => {
    const budget = new StoreRefreshBudget(new MemoryStore(), new CacheKeyBuilder('m'));
    expect(budget.shared).toBe(false);
    expect((await budget.take('vendor', 1, { perWindow: 1 })).scope).toBe('local');
    expect((await budget.take('vendor', 1, { perWindow: 1 })).granted).toBe(false);
  });
});
