import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { performance } from 'node:perf_hooks';
import { CacheKeyBuilder } from '../../src/cache/keys/cache-key-builder.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { CacheValidationError } from '../../src/cache/errors/cache-errors.js';
import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { testCluster, testRedis } from '../harness/test-env.js';
import {
  createCacheContext,
  sleep,
  uniquePrefix,
  type CacheContext,
} from '../support/cache-context.js';

describe('CacheService on standalone Redis', () => {
  let a: CacheContext;
  let b: CacheContext;
  let raw: Redis;
  let prefix: string;

  beforeAll(async () => {
    prefix = uniquePrefix('svc');
    a = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: prefix });
    b = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: prefix });
    raw = new Redis(testRedis().url);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    raw.disconnect();
  });

  it('runs the factory once for 2 instances × 500 concurrent getOrSet on one cold key', async () => {
    let calls = 0;
    const factory = async () => {
      calls++;
      await sleep(200);
      return { price: 101.5, calls };
    };
    const key = 'market_data:stampede:1';
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        (i % 2 === 0 ? a : b).cache.getOrSet(key, factory, { keyType: CacheKeyType.MARKET_DATA }),
      ),
    );
    expect(calls).toBe(1);
    expect(results.every((r) => r.price === 101.5 && r.calls === 1)).toBe(true);
  });

  it('counts 1,000 concurrent quota calls exactly, and the counter has a TTL', async () => {
    const usages = await Promise.all(
      Array.from({ length: 1000 }, () => a.cache.trackApiQuota('user-q', 'daily', 5000)),
    );
    expect(Math.max(...usages.map((u) => u.used))).toBe(1000);
    expect(new Set(usages.map((u) => u.used)).size).toBe(1000);
    const key = `${prefix}:${new CacheKeyBuilder(prefix).apiQuota('user-q', 'daily')}`;
    expect(await raw.get(key)).toBe('1000');
    const ttl = await raw.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(86_400_000);
    const usage = await b.cache.getApiQuotaUsage('user-q', 'daily', 5000);
    expect(usage).toMatchObject({ used: 1000, remaining: 4000, degraded: false });
  });

  it('refuses a 1,001st request past a limit of 1,000', async () => {
    const usages = await Promise.all(
      Array.from({ length: 1001 }, () => a.cache.trackApiQuota('user-l', 'hourly', 1000)),
    );
    expect(usages.filter((u) => u.allowed)).toHaveLength(1000);
  });

  it('keeps sessions with sliding expiry', async () => {
    await a.cache.cacheUserSession('u1', { theme: 'dark' }, 2);
    const key = `${prefix}:user_session:u1`;
    expect(await raw.pttl(key)).toBeGreaterThan(1000);
    // Most of the 2 s TTL has run out (set in Redis, not slept): a read slides it back to 2 s.
    await raw.pexpire(key, 300);
    expect(await b.cache.getUserSession('u1', 2)).toEqual({ theme: 'dark' });
    expect(await raw.pttl(key)).toBeGreaterThan(1500);
    await raw.pexpire(key, 300);
    expect(await a.cache.getUserSession('u1', 30)).toEqual({ theme: 'dark' });
    expect(await raw.pttl(key)).toBeGreaterThan(29_000);
    expect(await a.cache.deleteUserSession('u1')).toBe(true);
    expect(await a.cache.getUserSession('u1')).toBeNull();
  });

  it('flushes a ticker with glob characters literally, leaving a canary', async () => {
    const evil = 'A*?[a-z]\\';
    await a.manager.setStockPrice(evil, { p: 1 });
    await a.manager.setNewsData(evil, 'earnings', [{ h: 'x' }]);
    await a.manager.setStockPrice('AB', { p: 2 });
    await a.manager.setStockPrice('A', { p: 3 });
    await a.manager.setStockPrice(`${evil}X`, { p: 4 });
    expect(await a.manager.invalidateStockCache(evil)).toBe(2);
    expect(await a.manager.getStockPrice(evil)).toBeNull();
    expect(await b.manager.getStockPrice('AB')).toEqual({ p: 2 });
    expect(await b.manager.getStockPrice('A')).toEqual({ p: 3 });
    expect(await b.manager.getStockPrice(`${evil}X`)).toEqual({ p: 4 });
  });

  it('answers a corrupt or prototype-polluting value as a miss, deletes it and counts it', async () => {
    const keys = new CacheKeyBuilder(prefix);
    const k1 = keys.build(CacheKeyType.MARKET_DATA, 'proto');
    const k2 = keys.build(CacheKeyType.MARKET_DATA, 'garbage');
    const k3 = keys.build(CacheKeyType.MARKET_DATA, 'escaped');
    await raw.set(keys.storageKey(k1), '{"__proto__":{"polluted":true}}', 'EX', 60);
    await raw.set(keys.storageKey(k2), 'not json at all', 'EX', 60);
    await raw.set(
      keys.storageKey(k3),
      '{"v":{"\\u005f_proto__":{"polluted":true}},"a":1,"s":9e15,"e":9e15,"k":9e15}',
      'EX',
      60,
    );
    const before = (await a.cache.getCacheStatistics()).l2.corrupt;
    for (const k of [k1, k2, k3]) {
      const r = await a.cache.lookup(k);
      expect(r.success).toBe(false);
      expect(await raw.exists(keys.storageKey(k))).toBe(0);
    }
    expect((await a.cache.getCacheStatistics()).l2.corrupt).toBe(before + 3);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await a.cache.getOrSet(k1, () => ({ ok: true }))).toEqual({ ok: true });
  });

  it('refuses values over maxValueBytes with a typed error and stores nothing', async () => {
    const small = await createCacheContext({
      redisUrl: testRedis().url,
      keyPrefix: prefix,
      maxValueBytes: 1000,
    });
    try {
      await expect(small.cache.set('market_data:big', 'x'.repeat(2000))).rejects.toMatchObject({
        code: 'CACHE_VALUE_TOO_LARGE',
      });
      expect(await raw.exists(`${prefix}:market_data:big`)).toBe(0);
    } finally {
      await small.close();
    }
  });

  it('batches reads and writes through pipelineGet / pipelineSet', async () => {
    const entries = Array.from({ length: 100 }, (_, i) => ({
      key: `market_data:batch:${i}`,
      value: { i },
      ttl: '1m',
    }));
    expect(await a.cache.pipelineSet(entries)).toBe(true);
    const values = await b.cache.pipelineGet<{ i: number }>([
      ...entries.map((e) => e.key),
      'market_data:batch:none',
    ]);
    expect(values.slice(0, 100).map((v) => v?.i)).toEqual(entries.map((_, i) => i));
    expect(values[100]).toBeUndefined();
    const ttl = await raw.pttl(`${prefix}:market_data:batch:5`);
    expect(ttl).toBeGreaterThan(50_000);
  });

  it('reports lookups with their source and duration', async () => {
    await a.cache.set('market_data:lk', { v: 1 });
    expect(await a.cache.lookup('market_data:lk')).toMatchObject({
      success: true,
      value: { v: 1 },
      source: 'l1',
    });
    const before = (await b.cache.getCacheStatistics()).l2;
    expect(await b.cache.lookup('market_data:lk')).toMatchObject({ success: true, source: 'l2' });
    const after = (await b.cache.getCacheStatistics()).l2;
    expect(after.hits).toBe(before.hits + 1);
    // The duration is read on the monotonic clock: move it by 25 ms while the L2 read is in flight.
    let mono = 1_000;
    const clock = jest.spyOn(performance, 'now').mockImplementation(() => mono);
    let miss: Awaited<ReturnType<typeof b.cache.lookup>>;
    try {
      const pending = b.cache.lookup('market_data:none');
      mono += 25;
      miss = await pending;
    } finally {
      clock.mockRestore();
    }
    expect(miss).toMatchObject({ success: false, source: undefined });
    expect(miss.durationMs).toBe(25);
    expect((await b.cache.getCacheStatistics()).l2.misses).toBe(after.misses + 1);
  });

  it('rejects bad keys and TTLs with errors that name the argument, storing nothing', async () => {
    await expect(a.cache.set('bad*key', 1)).rejects.toMatchObject({
      field: 'key',
      code: 'CACHE_INVALID_KEY',
    });
    await expect(a.cache.set('market_data:x', 1, { ttl: 'soon' })).rejects.toMatchObject({
      code: 'CACHE_INVALID_TTL',
    });
    await expect(
      a.cache.set('market_data:x', 1, { ttl: new Date(Date.now() - 1000) }),
    ).rejects.toBeInstanceOf(CacheValidationError);
    await expect(a.cache.trackApiQuota('', 'daily')).rejects.toMatchObject({ field: 'userId' });
    expect(await raw.exists(`${prefix}:market_data:x`)).toBe(0);
  });

  it('accepts TTLs as seconds, duration strings and absolute dates', async () => {
    await a.cache.set('market_data:t1', 1, { ttl: 30 });
    await a.cache.set('market_data:t2', 1, { ttl: '2h' });
    await a.cache.set('market_data:t3', 1, { ttl: new Date(Date.now() + 90_000) });
    const t = async (k: string) => raw.pttl(`${prefix}:${k}`);
    // Stored TTL = TTL + the key type's max staleness (market_data: 900 s) for fail-safe.
    expect(await t('market_data:t1')).toBeGreaterThan(929_000);
    expect(await t('market_data:t2')).toBeGreaterThan(7_200_000 + 899_000);
    // 90 s to the given instant + 900 s of max staleness, less the moments this test has run.
    expect(await t('market_data:t3')).toBeLessThanOrEqual(990_000);
    expect(await t('market_data:t3')).toBeGreaterThan(960_000);
  });
});

describe('read coalescing', () => {
  it('sends 100 concurrent single-key reads as one GET (no read in flight yet) plus one MGET', async () => {
    const cache = new RedisCache({ url: testRedis().url });
    await cache.connect();
    const raw = new Redis(testRedis().url);
    try {
      const prefix = uniquePrefix('co');
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => raw.set(`${prefix}:${i}`, `v${i}`, 'EX', 60)),
      );
      const stats = async () => {
        const info = await raw.info('commandstats');
        const calls = (cmd: string) =>
          Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
        return { get: calls('get'), mget: calls('mget') };
      };
      const before = await stats();
      const values = await Promise.all(
        Array.from({ length: 100 }, (_, i) => cache.get(`${prefix}:${i}`)),
      );
      const after = await stats();
      expect(values).toEqual(Array.from({ length: 100 }, (_, i) => `v${i}`));
      expect(after.mget - before.mget).toBe(1);
      expect(after.get - before.get).toBe(1);
      expect(await cache.get(`${prefix}:7`)).toBe('v7');
      expect((await stats()).get - after.get).toBe(1);
    } finally {
      await cache.disconnect();
      raw.disconnect();
    }
  });
});

describe('CacheService on the Redis cluster', () => {
  let ctx: CacheContext;
  let prefix: string;
  beforeAll(async () => {
    prefix = uniquePrefix('cl');
    ctx = await createCacheContext({
      clusterNodes: testCluster().nodeList.split(','),
      keyPrefix: prefix,
      commandTimeoutMs: 1000,
    });
  });
  afterAll(() => ctx.close());

  it('flushes a ticker on every master, leaving the canary', async () => {
    const tickers = Array.from({ length: 40 }, (_, i) => `T${i}`);
    for (const t of tickers) {
      await ctx.manager.setStockPrice(t, { t });
      await ctx.manager.setFinancialData(t, 'quarterly', 'Q3', { t });
    }
    await ctx.manager.setStockPrice('CANARY', { t: 'c' });
    const masters = new Set<string>();
    const redis = ctx.store as RedisCache;
    for (const t of tickers) {
      const key = `${prefix}:stock_price:${t}:latest`;
      const node = (redis.client as import('ioredis').Cluster).slots[
        (await import('cluster-key-slot')).default(key)
      ]?.[0];
      if (node) masters.add(node);
    }
    expect(masters.size).toBe(3);
    let removed = 0;
    for (const t of tickers) removed += await ctx.manager.invalidateStockCache(t);
    expect(removed).toBe(80);
    expect(await redis.keys(`${prefix}:stock_price:T*`)).toEqual([]);
    expect(await ctx.manager.getStockPrice('CANARY')).toEqual({ t: 'c' });
    expect(await ctx.cache.flushPattern('stock_price:*')).toBe(1);
  });

  it('batches across slots without CROSSSLOT errors and counts quota atomically', async () => {
    const entries = Array.from({ length: 200 }, (_, i) => ({ key: `market_data:c${i}`, value: i }));
    expect(await ctx.cache.pipelineSet(entries)).toBe(true);
    ctx.tiered.l1.clear();
    expect(await ctx.cache.pipelineGet(entries.map((e) => e.key))).toEqual(
      entries.map((e) => e.value),
    );
    const usages = await Promise.all(
      Array.from({ length: 300 }, () => ctx.cache.trackApiQuota('cq', 'daily', 1000)),
    );
    expect(Math.max(...usages.map((u) => u.used))).toBe(300);
    expect(ctx.store.getStats().errors).toBe(0);
  });
});
