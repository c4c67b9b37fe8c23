/**
 * Issue 12, the anonymous throttle's storage: `QuotaThrottlerStorage` (the `@nestjs/throttler`
 * `ThrottlerStorage` contract) on the cache module's counters (`QuotaService.trackRate`).
 * - counting is atomic across instances sharing one Redis (no lost or doubled hits);
 * - every counter has a TTL of the window, and its key is built by `CacheKeyBuilder` (escaped);
 * - while Redis cannot answer it fails open, per instance, continuing from the last count it saw,
 *   in an LRU of at most LOCAL_RATE_MAX_KEYS subjects;
 * - a window ends `ttl` ms after its first hit (fake clock).
 */
import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { CacheKeyBuilder } from '../../src/cache/keys/cache-key-builder.js';
import { resolveOptions } from '../../src/cache/market-cache.options.js';
import { LOCAL_RATE_MAX_KEYS, QuotaService } from '../../src/cache/quota.service.js';
import { MemoryStore } from '../../src/cache/stores/memory-store.js';
import { QuotaThrottlerStorage } from '../../src/throttle/quota-throttler.storage.js';
import { RedisServerProcess } from '../harness/redis-server.js';
import { testRedis } from '../harness/test-env.js';
import { createCacheContext, uniquePrefix, type CacheContext } from '../support/cache-context.js';

const WINDOW_MS = 60_000;
const NAME = 'anonymous';

function storageOf(ctx: CacheContext): QuotaThrottlerStorage {
  return new QuotaThrottlerStorage(ctx.app.get(QuotaService));
}

describe('QuotaThrottlerStorage on a shared Redis', () => {
  const prefix = uniquePrefix('thrs');
  let a: CacheContext;
  let b: CacheContext;
  let redis: Redis;

  beforeAll(async () => {
    [a, b] = await Promise.all([
      createCacheContext({ redisUrl: testRedis().url, keyPrefix: prefix }),
      createCacheContext({ redisUrl: testRedis().url, keyPrefix: prefix }),
    ]);
    redis = new Redis(testRedis().url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    redis.disconnect();
    await Promise.all([a.close(), b.close()]);
  });

  it('counts concurrent hits from two instances atomically: totals 1..N, blocked exactly past the limit', async () => {
    const [sa, sb] = [storageOf(a), storageOf(b)];
    const n = 300;
    const limit = 120;
    const hits = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        (i % 2 ? sa : sb).increment('10.0.0.1', WINDOW_MS, limit, WINDOW_MS, NAME),
      ),
    );
    expect(hits.map((h) => h.totalHits).sort((x, y) => x - y)).toEqual(
      Array.from({ length: n }, (_, i) => i + 1),
    );
    expect(hits.filter((h) => !h.isBlocked)).toHaveLength(limit);
    for (const h of hits) {
      expect(h.isBlocked).toBe(h.totalHits > limit);
      expect(h.timeToExpire).toBeGreaterThanOrEqual(1);
      expect(h.timeToExpire).toBeLessThanOrEqual(WINDOW_MS / 1000);
      expect(h.timeToBlockExpire).toBe(h.isBlocked ? h.timeToExpire : 0);
    }
    expect(await redis.get(`${prefix}:api_quota:10.0.0.1:throttle:${NAME}`)).toBe(String(n));
  });

  it('gives every counter a TTL of the window, under a key whose subject is escaped', async () => {
    const subject = '2001:db8::/64 *?[x]\\';
    await storageOf(a).increment(subject, WINDOW_MS, 10, WINDOW_MS, NAME);
    const key = `${prefix}:api_quota:${CacheKeyBuilder.escape(subject)}:throttle:${NAME}`;
    expect(key).not.toMatch(/[*?[\]\\ ]/);
    expect(await redis.get(key)).toBe('1');
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(WINDOW_MS);
    // A second hit does not move the window's end (PEXPIRE only on a new counter).
    await storageOf(b).increment(subject, WINDOW_MS * 10, 10, WINDOW_MS, NAME);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(pttl);
  });
});

describe('QuotaThrottlerStorage while Redis is frozen (SIGSTOP)', () => {
  let server: RedisServerProcess;
  let ctx: CacheContext;

  beforeAll(async () => {
    server = await RedisServerProcess.start();
    ctx = await createCacheContext({
      redisUrl: server.url,
      keyPrefix: uniquePrefix('thrd'),
      commandTimeoutMs: 200,
    });
  });
  afterAll(async () => {
    server.resume();
    await ctx.close();
    await server.stop();
  });

  it('fails open per instance from the last count seen, in an LRU of at most LOCAL_RATE_MAX_KEYS subjects, and counts in Redis again once it answers', async () => {
    const storage = storageOf(ctx);
    const quotas = ctx.app.get(QuotaService);
    const limit = 5;
    const hit = (subject: string) => storage.increment(subject, WINDOW_MS, limit, WINDOW_MS, NAME);
    for (let i = 0; i < limit; i++) expect((await hit('at-limit')).isBlocked).toBe(false);

    server.pause();
    try {
      // Never an error, never a hang: the client's timeout, then the breaker, answer.
      const during = await hit('at-limit');
      expect(during).toMatchObject({ totalHits: limit + 1, isBlocked: true });
      for (let i = 0; i < 50; i++) expect((await hit('at-limit')).isBlocked).toBe(true);
      // An address this instance never saw starts from 0 (the documented bound: `limit` per instance).
      const fresh = await hit('never-seen');
      expect(fresh).toMatchObject({ totalHits: 1, isBlocked: false });
      expect((await quotas.trackRate('never-seen', NAME, WINDOW_MS)).degraded).toBe(true);
      // 3 × LOCAL_RATE_MAX_KEYS distinct addresses: the fallback keeps at most LOCAL_RATE_MAX_KEYS.
      for (let i = 0; i < 3 * LOCAL_RATE_MAX_KEYS; i++) await hit(`10.1.${i >> 8}.${i & 255}`);
      expect(quotas.localRateKeyCount).toBe(LOCAL_RATE_MAX_KEYS);
    } finally {
      server.resume();
    }
    // Redis answers again (the breaker half-opens after its cool-down): its own count goes on.
    let back = await quotas.trackRate('after', NAME, WINDOW_MS);
    for (let i = 0; i < 100 && back.degraded; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await quotas.trackRate('after', NAME, WINDOW_MS);
    }
    expect(back.degraded).toBe(false);
  }, 60_000);
});

describe('QuotaThrottlerStorage windows (fake clock)', () => {
  afterEach(() => jest.useRealTimers());

  it('ends a window ttl ms after its first hit: blocked until then, counted from 1 after', async () => {
    jest.useFakeTimers({ now: Date.UTC(2024, 0, 2, 10, 0, 0), doNotFake: ['setImmediate'] });
    const quotas = new QuotaService(
      new CacheKeyBuilder('thrw'),
      new MemoryStore(),
      resolveOptions({}),
    );
    const storage = new QuotaThrottlerStorage(quotas);
    const hit = () => storage.increment('192.0.2.1', 10_000, 2, 10_000, NAME);
    expect(await hit()).toMatchObject({ totalHits: 1, timeToExpire: 10, isBlocked: false });
    jest.advanceTimersByTime(4_000);
    expect(await hit()).toMatchObject({ totalHits: 2, timeToExpire: 6, isBlocked: false });
    expect(await hit()).toMatchObject({ totalHits: 3, isBlocked: true, timeToBlockExpire: 6 });
    jest.advanceTimersByTime(5_999);
    expect(await hit()).toMatchObject({ isBlocked: true, timeToBlockExpire: 1 });
    jest.advanceTimersByTime(1);
    expect(await hit()).toMatchObject({ totalHits: 1, timeToExpire: 10, isBlocked: false });
  });
});
