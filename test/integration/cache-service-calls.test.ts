/**
 * CacheService calls a caller makes directly, each test on a module of its own: what `lookup`
 * answers (hit, miss, failure), when a value expires (`expiresAt`), the computed-analysis helper,
 * and which patterns `flushPattern` / `invalidate` take. Time is a frozen `Date.now`.
 */
import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { CacheError, CacheValidationError } from '../../src/cache/errors/cache-errors.js';
import { testRedis } from '../harness/test-env.js';
import { CacheContext, createCacheContext, uniquePrefix } from '../support/cache-context.js';

const T0 = Date.UTC(2026, 0, 5, 14, 30);

describe('CacheService calls', () => {
  let ctx: CacheContext;
  let raw: Redis;
  let prefix: string;
  const stored = (logical: string): string => `${prefix}:${logical}`;

  beforeEach(async () => {
    prefix = uniquePrefix('svc');
    ctx = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: prefix });
    raw = new Redis(testRedis().url);
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    raw.disconnect();
    await ctx.close();
  });

  describe('lookup', () => {
    it('answers a hit with its value, source and asOf, and a miss with none of them', async () => {
      jest.spyOn(Date, 'now').mockReturnValue(T0);
      await ctx.cache.set('market_data:lk', { v: 1 });
      const hit = await ctx.cache.lookup('market_data:lk');
      expect(hit).toEqual({
        success: true,
        value: { v: 1 },
        error: undefined,
        source: 'l1',
        asOf: T0,
        durationMs: expect.any(Number),
      });
      const miss = await ctx.cache.lookup('market_data:none');
      expect(miss).toEqual({
        success: false,
        value: undefined,
        error: undefined,
        source: undefined,
        asOf: undefined,
        durationMs: expect.any(Number),
      });
    });

    it('never throws: a store failure comes back as CACHE_STORE_UNAVAILABLE with its cause', async () => {
      const cause = new Error('connection reset');
      jest.spyOn(ctx.tiered, 'get').mockRejectedValue(cause);
      let mono = 500;
      jest.spyOn(performance, 'now').mockImplementation(() => (mono += 7));
      const r = await ctx.cache.lookup('market_data:x');
      expect(r).toMatchObject({ success: false, value: undefined, source: undefined });
      expect(r.error).toBeInstanceOf(CacheError);
      expect(r.error).toMatchObject({
        code: 'CACHE_STORE_UNAVAILABLE',
        message: 'lookup failed',
        cause,
      });
      // Two clock reads, 7 ms apart: the call's duration, not a timestamp.
      expect(r.durationMs).toBe(7);
    });

    it('passes a typed error through as it is (a bad key names `key`)', async () => {
      const r = await ctx.cache.lookup('bad*key');
      expect(r.success).toBe(false);
      expect(r.error).toBeInstanceOf(CacheValidationError);
      expect(r.error).toMatchObject({ code: 'CACHE_INVALID_KEY', field: 'key' });
    });
  });

  describe('expiresAt', () => {
    it('answers the L1 expiry of a value whose own TTL is shorter than the L1 cap', async () => {
      jest.spyOn(Date, 'now').mockReturnValue(T0);
      await ctx.cache.set('market_data:short', 1, { ttl: 30 });
      expect(await ctx.cache.expiresAt('market_data:short')).toBe(T0 + 30_000);
    });

    it('answers from the Redis TTL (expiry + max staleness) when L1 cut the entry to its cap', async () => {
      jest.spyOn(Date, 'now').mockReturnValue(T0);
      // 120 s is past the 60 s L1 cap; Redis keeps it 120 s + 900 s of market_data staleness.
      await ctx.cache.set('market_data:long', 1, { ttl: 120 });
      const at = await ctx.cache.expiresAt('market_data:long');
      expect(at).toBeGreaterThan(T0 + 1_000_000);
      expect(at).toBeLessThanOrEqual(T0 + 1_020_000);
    });

    it('falls back to the L1 expiry when Redis no longer holds the key, and is undefined for an unknown key', async () => {
      jest.spyOn(Date, 'now').mockReturnValue(T0);
      await ctx.cache.set('market_data:gone', 1, { ttl: 120 });
      await raw.del(stored('market_data:gone'));
      expect(await ctx.cache.expiresAt('market_data:gone')).toBe(T0 + 60_000);
      expect(await ctx.cache.expiresAt('market_data:never')).toBeUndefined();
    });

    it('answers from Redis for a value only Redis holds', async () => {
      jest.spyOn(Date, 'now').mockReturnValue(T0);
      await ctx.cache.set('market_data:l2only', 1, { ttl: 30 });
      ctx.tiered.l1.clear();
      const at = await ctx.cache.expiresAt('market_data:l2only');
      expect(at).toBeGreaterThan(T0 + 900_000);
      expect(at).toBeLessThanOrEqual(T0 + 930_000);
    });
  });

  it('caches computed analysis under ai_analysis:{ticker}:{type} for 6 hours', async () => {
    const factory = jest.fn(async () => ({ score: 0.7 }));
    const first = await ctx.cache.getAiAnalysisCached('MSFT', 'sentiment', factory);
    const second = await ctx.cache.getAiAnalysisCached('MSFT', 'sentiment', factory);
    expect(first.value).toEqual({ score: 0.7 });
    expect(second.value).toEqual({ score: 0.7 });
    expect(factory).toHaveBeenCalledTimes(1);
    // Stored for the 6 h TTL plus the ai_analysis max staleness (24 h).
    const pttl = await raw.pttl(stored('ai_analysis:MSFT:sentiment'));
    expect(pttl).toBeGreaterThan((21_600 + 86_400 - 60) * 1000);
    expect(pttl).toBeLessThanOrEqual((21_600 + 86_400) * 1000);
    expect((await ctx.cache.getCacheStatistics()).byKeyType.ai_analysis?.l1.hits).toBe(1);
  });

  describe('flushPattern and invalidate by pattern', () => {
    const seed = async (): Promise<void> => {
      await ctx.cache.pipelineSet([
        { key: 'news_data:AAPL:1', value: 1 },
        { key: 'news_data:AAPL:2', value: 2 },
        { key: 'news_data:MSFT:1', value: 3 },
      ]);
    };

    it('removes every key the glob matches, here and in Redis, and keeps the rest', async () => {
      await seed();
      expect(await ctx.cache.flushPattern('news_data:AAPL:*')).toBe(2);
      expect(await raw.exists(stored('news_data:AAPL:1'), stored('news_data:AAPL:2'))).toBe(0);
      expect(await ctx.cache.get('news_data:AAPL:1')).toBeUndefined();
      expect((await ctx.cache.get('news_data:MSFT:1'))?.value).toBe(3);
    });

    it('with a filter removes only the keys it accepts, given as stored keys', async () => {
      await seed();
      const seen: string[] = [];
      const removed = await ctx.cache.flushPattern('news_data:*', (k) => {
        seen.push(k);
        return k.endsWith(':1');
      });
      expect(removed).toBe(2);
      // Asked of the Redis keys and of this instance's L1 entries.
      expect([...new Set(seen)].sort()).toEqual(
        [stored('news_data:AAPL:1'), stored('news_data:AAPL:2'), stored('news_data:MSFT:1')].sort(),
      );
      expect((await ctx.cache.get('news_data:AAPL:2'))?.value).toBe(2);
      expect(await ctx.cache.get('news_data:MSFT:1')).toBeUndefined();
    });

    it('invalidate({ pattern }) says what it did', async () => {
      await seed();
      expect(await ctx.cache.invalidate({ pattern: 'news_data:AAPL:*' })).toMatchObject({
        deleted: 2,
        l2: 'done',
        complete: true,
      });
      expect(await raw.exists(stored('news_data:MSFT:1'))).toBe(1);
    });

    it.each([
      ['an empty pattern', ''],
      ['a pattern over 1024 characters', 'x'.repeat(1025)],
      ['a pattern that is not a string', 42 as unknown as string],
    ])('refuses %s, naming `pattern`, and removes nothing', async (_label, bad) => {
      await seed();
      const refusal = {
        field: 'pattern',
        code: 'CACHE_INVALID_OPTION',
        message: 'pattern must be a non-empty string of at most 1024 characters',
      };
      await expect(ctx.cache.flushPattern(bad)).rejects.toMatchObject(refusal);
      await expect(ctx.cache.flushPattern(bad, () => true)).rejects.toMatchObject(refusal);
      await expect(ctx.cache.invalidate({ pattern: bad })).rejects.toMatchObject(refusal);
      expect(await raw.exists(stored('news_data:AAPL:1'), stored('news_data:MSFT:1'))).toBe(2);
      expect((await ctx.cache.get('news_data:AAPL:2'))?.value).toBe(2);
    });

    it('takes a pattern of exactly 1024 characters', async () => {
      await seed();
      const pattern = 'news_data:AAPL:' + '*'.repeat(1024 - 'news_data:AAPL:'.length);
      expect(pattern).toHaveLength(1024);
      expect(await ctx.cache.flushPattern(pattern, () => true)).toBe(2);
    });
  });
});
