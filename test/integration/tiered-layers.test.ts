/**
 * No loss between layers (issue 10), against the suite's Redis: with L1 off, what `CacheService`
 * adds on top of the store keeps what the store gained. Reads in flight through `getOrSet` reach
 * Redis as the store's coalesced MGET; a key asked for several times in one tick is read once and
 * answered to every caller; a read that failed is seen by the tiered cache without building the
 * store's statistics.
 */
import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { testRedis } from '../harness/test-env.js';
import {
  createCacheContext,
  uniquePrefix,
  waitFor,
  type CacheContext,
} from '../support/cache-context.js';

let raw: Redis;
beforeAll(() => {
  raw = new Redis(testRedis().url);
});
afterAll(() => raw?.disconnect());

/** GET and MGET calls Redis has served so far. */
async function readCalls(): Promise<{ get: number; mget: number }> {
  const info = await raw.info('commandstats');
  const calls = (cmd: string) =>
    Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return { get: calls('get'), mget: calls('mget') };
}

/** Whether every object and array under `value` is frozen. */
function deeplyFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(deeplyFrozen);
}

describe('getOrSet with L1 off, many reads in flight', () => {
  let ctx: CacheContext;
  beforeAll(async () => {
    ctx = await createCacheContext({
      redisUrl: testRedis().url,
      keyPrefix: uniquePrefix('lyr'),
      l1MaxItemBytes: 1,
    });
  });
  afterAll(() => ctx?.close());

  it('reaches Redis as one GET and one MGET for 1,000 keys, each caller answered from L2', async () => {
    const keys = Array.from({ length: 1000 }, (_, i) =>
      ctx.cache.keys.build(CacheKeyType.STOCK_PRICE, `T${i}`, 'latest'),
    );
    await ctx.cache.pipelineSet(keys.map((key, i) => ({ key, value: { i, list: [i] } })));
    expect(ctx.cache.l1Usage().entries).toBe(0);
    const counters = ctx.cache.countersOf(CacheKeyType.STOCK_PRICE);
    const before = { ...counters };
    const calls = await readCalls();

    const results = await Promise.all(
      keys.map((key) =>
        ctx.cache.getOrSetResult(key, () => {
          throw new Error('the factory must not run: every value is in L2');
        }),
      ),
    );

    const after = await readCalls();
    expect(after.mget - calls.mget).toBe(1);
    expect(after.get - calls.get).toBe(1);
    expect(results.map((r) => r.value)).toEqual(keys.map((_, i) => ({ i, list: [i] })));
    expect(results.every((r) => r.source === 'l2' && deeplyFrozen(r.value))).toBe(true);
    expect(counters.l1Misses - before.l1Misses).toBe(1000);
    expect(counters.l2Hits - before.l2Hits).toBe(1000);
    expect(counters.factoryCalls - before.factoryCalls).toBe(0);
  });
});

describe('the store coalescer with a key asked for several times in one tick', () => {
  it('reads each key once and answers every caller, misses included', async () => {
    const cache = new RedisCache({ url: testRedis().url, commandTimeoutMs: 2000 });
    await cache.connect();
    try {
      const prefix = uniquePrefix('lyw');
      await raw.set(`${prefix}:a`, 'A', 'EX', 60);
      await raw.set(`${prefix}:b`, 'B', 'EX', 60);
      const calls = await readCalls();
      // The first read goes out alone; the others of this tick wait for one MGET.
      const reads = [
        cache.get(`${prefix}:a`),
        cache.get(`${prefix}:b`),
        cache.get(`${prefix}:b`),
        cache.get(`${prefix}:b`),
        cache.get(`${prefix}:none`),
        cache.get(`${prefix}:none`),
        cache.get(`${prefix}:a`),
      ];
      // Every caller is answered with the first caller of its key (no waiting on a hang).
      const settled = reads.map(() => false);
      reads.forEach((r, i) => void r.then(() => (settled[i] = true)));
      await Promise.all([reads[0], reads[1], reads[4], reads[6]]);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(settled).toEqual(reads.map(() => true));
      expect(await Promise.all(reads)).toEqual(['A', 'B', 'B', 'B', undefined, undefined, 'A']);
      const after = await readCalls();
      expect(after.get - calls.get).toBe(1);
      expect(after.mget - calls.mget).toBe(1);
      expect(cache.getStats()).toMatchObject({ hits: 3, misses: 1, errors: 0 }); // per key read
    } finally {
      await cache.disconnect();
    }
  });
});

describe('a failed read, as the tiered cache sees it', () => {
  it('errorCount() follows getStats().errors without building the statistics', async () => {
    const cache = new RedisCache({ url: testRedis().url, commandTimeoutMs: 2000 });
    await cache.connect();
    try {
      // A list under the key: GET fails with WRONGTYPE, answered as a miss and counted.
      const key = `${uniquePrefix('lye')}:list`;
      await raw.lpush(key, 'x');
      await raw.expire(key, 60);
      expect(cache.errorCount()).toBe(0);
      for (let i = 0; i < 3; i++) expect(await cache.get(key)).toBeUndefined();
      expect(cache.getStats().errors).toBe(3);
      expect(cache.errorCount()).toBe(3);
    } finally {
      await cache.disconnect();
    }
  });
});

describe("the command timeout's timer list", () => {
  it("is kept by one unref'd interval of the command timeout per client while it is up, released on disconnect", async () => {
    const setSpy = jest.spyOn(globalThis, 'setInterval');
    const clearSpy = jest.spyOn(globalThis, 'clearInterval');
    try {
      const cache = new RedisCache({ url: testRedis().url, commandTimeoutMs: 1234 });
      const sharing = new RedisCache({ client: cache.client, commandTimeoutMs: 1234 });
      await cache.connect();
      await sharing.connect();
      const kept = setSpy.mock.calls.flatMap(([, ms], i) =>
        ms === 1234 ? [setSpy.mock.results[i].value as NodeJS.Timeout] : [],
      );
      expect(kept).toHaveLength(1);
      expect(kept[0].hasRef()).toBe(false);
      expect(await cache.get(`${uniquePrefix('lyt')}:none`)).toBeUndefined();
      await sharing.disconnect();
      await cache.disconnect();
      await waitFor(() => clearSpy.mock.calls.some(([t]) => t === kept[0]));
    } finally {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    }
  });
});
