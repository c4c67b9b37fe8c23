import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import type { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { RedisServerProcess } from '../harness/redis-server.js';
import { TcpProxy } from '../harness/tcp-proxy.js';
import {
  createCacheContext,
  uniquePrefix,
  waitFor,
  type CacheContext,
} from '../support/cache-context.js';

const TIMEOUT_MS = 200;

describe('Redis stopped mid-test', () => {
  let server: RedisServerProcess;
  let ctx: CacheContext;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    server = await RedisServerProcess.start();
    ctx = await createCacheContext({
      redisUrl: server.url,
      keyPrefix: uniquePrefix('down'),
      commandTimeoutMs: TIMEOUT_MS,
    });
  });
  afterAll(async () => {
    await ctx.close();
    await server.stop();
    process.off('unhandledRejection', onUnhandled);
  });

  it('answers within the timeout as a miss / the factory result, then recovers on restart', async () => {
    await ctx.cache.set('market_data:warm', { v: 'l1' });
    await ctx.cache.set('market_data:l2only', { v: 'l2' });
    ctx.tiered.l1.delete(`${ctx.tiered.keys.prefix}:market_data:l2only`);
    await server.kill();

    const timed = async <T>(fn: () => Promise<T>) => {
      const t0 = Date.now();
      const value = await fn();
      return { value, ms: Date.now() - t0 };
    };
    for (let i = 0; i < 10; i++) {
      const get = await timed(() => ctx.store.get('x'));
      const set = await timed(() => ctx.store.set('x', 'y', 1000));
      const gos = await timed(() =>
        ctx.cache.getOrSet(`market_data:cold${i}`, () => ({ from: 'factory' })),
      );
      const l1 = await timed(() =>
        ctx.cache.getOrSet('market_data:warm', () => ({ v: 'factory' })),
      );
      expect(get).toMatchObject({ value: undefined });
      expect(set).toMatchObject({ value: false });
      expect(gos.value).toEqual({ from: 'factory' });
      expect(l1.value).toEqual({ v: 'l1' });
      for (const t of [get, set, gos, l1]) expect(t.ms).toBeLessThan(TIMEOUT_MS + 100);
    }
    const stats = await ctx.cache.getCacheStatistics();
    expect(stats.store.breaker).toBe('open');
    expect(stats.health).toMatchObject({ status: 'down', connected: false });
    expect(stats.l1.hits).toBeGreaterThanOrEqual(10);
    expect(await ctx.cache.trackApiQuota('u', 'daily', 10)).toMatchObject({
      used: 1,
      degraded: true,
    });

    // This server keeps nothing on disk: after the restart, writes must reach it again.
    await server.restart();
    await waitFor(async () => (await ctx.store.set('x', 'y', 1000)) === true, 5000);
    await ctx.cache.set('market_data:after', { v: 'l2' });
    ctx.tiered.l1.clear();
    expect(await ctx.cache.lookup('market_data:after')).toMatchObject({
      success: true,
      source: 'l2',
      value: { v: 'l2' },
    });
    expect(ctx.store.getStats().breaker).toBe('closed');
    expect(unhandled).toEqual([]);
  });

  it('serves L1 and the source while a frozen Redis (SIGSTOP) times out', async () => {
    await ctx.cache.set('market_data:frozen', { v: 1 }, { keyType: CacheKeyType.MARKET_DATA });
    server.pause();
    try {
      const t0 = Date.now();
      expect(await ctx.cache.getOrSet('market_data:frozen', () => ({ v: 2 }))).toEqual({ v: 1 });
      expect(await ctx.cache.getOrSet('market_data:frozen-cold', () => ({ v: 3 }))).toEqual({
        v: 3,
      });
      expect(Date.now() - t0).toBeLessThan(TIMEOUT_MS + 150);
    } finally {
      server.resume();
    }
    await waitFor(async () => (await ctx.store.set('y', 'z', 1000)) === true, 5000);
    expect(unhandled).toEqual([]);
  });
});

describe('Redis behind a slow network', () => {
  it('turns commands slower than the timeout into misses, not errors', async () => {
    const server = await RedisServerProcess.start();
    const proxy = await TcpProxy.start(server.port);
    const ctx = await createCacheContext({
      redisUrl: proxy.url,
      keyPrefix: uniquePrefix('slow'),
      commandTimeoutMs: TIMEOUT_MS,
    });
    try {
      expect(await ctx.store.set('k', 'v', 10_000)).toBe(true);
      proxy.setLatency(400);
      const t0 = Date.now();
      expect(await ctx.store.get('k')).toBeUndefined();
      expect(Date.now() - t0).toBeLessThan(TIMEOUT_MS + 150);
      proxy.setLatency(0);
      await waitFor(async () => (await ctx.store.get('k')) === 'v', 5000);
      expect((ctx.store as RedisCache).getStats().errors).toBeGreaterThan(0);
    } finally {
      await ctx.close();
      await proxy.close();
      await server.stop();
    }
  });

  it('treats an out-of-memory Redis as a failed set, and reads still work', async () => {
    const server = await RedisServerProcess.start();
    const ctx = await createCacheContext({ redisUrl: server.url, keyPrefix: uniquePrefix('oom') });
    try {
      await ctx.cache.set('market_data:before', { ok: 1 });
      ctx.tiered.l1.clear();
      const { Redis } = await import('ioredis');
      const admin = new Redis(server.url);
      await admin.config('SET', 'maxmemory', '1');
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      expect(await ctx.store.set('oom', 'x', 1000)).toBe(false);
      expect(await ctx.cache.getOrSet('market_data:before', () => ({ ok: 2 }))).toEqual({ ok: 1 });
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
    } finally {
      await ctx.close();
      await server.stop();
    }
  });
});
