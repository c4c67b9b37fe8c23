import { jest } from '@jest/globals';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import type { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { RedisServerProcess } from '../harness/redis-server.js';
import { TcpProxy } from '../harness/tcp-proxy.js';
import { createCacheContext, uniquePrefix, type CacheContext } from '../support/cache-context.js';
import { REAL_EXCEPT_DATE_AND_TIMEOUTS } from '../support/fake-time.js';

const TIMEOUT_MS = 200;

/*
 * "Answers within the timeout" is checked on fake time: `setTimeout` and `Date` are faked (the
 * client's command timeout, its reconnect back-off, the breaker clock and the test proxy's
 * latency all run on them), while sockets, child processes and `setImmediate` stay real. A call
 * must have settled once the fake clock has moved by exactly the command timeout.
 */
const realSetTimeout = globalThis.setTimeout;
const realWait = (ms: number) => new Promise<void>((r) => realSetTimeout(r, ms));
const REAL_TIMERS = REAL_EXCEPT_DATE_AND_TIMEOUTS;
const fakeTime = () => jest.useFakeTimers({ doNotFake: [...REAL_TIMERS] });

/** Lets pending I/O callbacks and microtasks run (`setImmediate` is never faked). */
async function flushIo(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Starts `fn`, moves the fake clock by exactly `ms` and answers its value; fails if it has not
 * settled by then. With `notBefore`, also fails if it settled before the clock reached `ms`.
 */
async function answersWithin<T>(ms: number, fn: () => Promise<T>, notBefore = false): Promise<T> {
  let settled = false;
  const call = fn();
  call.then(
    () => (settled = true),
    () => (settled = true),
  );
  await flushIo(); // the commands are sent and their timeouts armed
  if (notBefore) {
    jest.advanceTimersByTime(ms - 1);
    await flushIo();
    expect(settled).toBe(false);
    jest.advanceTimersByTime(1);
  } else {
    jest.advanceTimersByTime(ms);
  }
  await flushIo();
  expect(settled).toBe(true);
  return call;
}

/**
 * `waitFor` on fake time: runs `check` while moving the fake clock by 100 ms per 20 real ms (a
 * check may itself wait for a fake timeout), until it answers true or `fakeMs` have passed.
 */
async function waitForFake(check: () => Promise<boolean>, fakeMs = 20_000): Promise<void> {
  let elapsed = 0;
  while (elapsed <= fakeMs) {
    let done = false;
    const ok = check().finally(() => (done = true));
    do {
      await realWait(20);
      jest.advanceTimersByTime(100);
      elapsed += 100;
    } while (!done && elapsed <= fakeMs);
    if (await ok) return;
  }
  throw new Error(`condition not met within ${fakeMs} fake ms`);
}

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
  afterEach(() => jest.useRealTimers());
  afterAll(async () => {
    await ctx.close();
    await server.stop();
    process.off('unhandledRejection', onUnhandled);
  });

  it('answers within the timeout as a miss / the factory result, then recovers on restart', async () => {
    await ctx.cache.set('market_data:warm', { v: 'l1' });
    await ctx.cache.set('market_data:l2only', { v: 'l2' });
    ctx.tiered.l1.delete(`${ctx.tiered.keys.prefix}:market_data:l2only`);
    fakeTime();
    await server.kill();

    for (let i = 0; i < 10; i++) {
      expect(await answersWithin(TIMEOUT_MS, () => ctx.store.get('x'))).toBeUndefined();
      expect(await answersWithin(TIMEOUT_MS, () => ctx.store.set('x', 'y', 1000))).toBe(false);
      expect(
        await answersWithin(TIMEOUT_MS, () =>
          ctx.cache.getOrSet(`market_data:cold${i}`, () => ({ from: 'factory' })),
        ),
      ).toEqual({ from: 'factory' });
      expect(
        await answersWithin(TIMEOUT_MS, () =>
          ctx.cache.getOrSet('market_data:warm', () => ({ v: 'factory' })),
        ),
      ).toEqual({ v: 'l1' });
    }
    const stats = await answersWithin(TIMEOUT_MS, () => ctx.cache.getCacheStatistics());
    expect(stats.store.breaker).toBe('open');
    expect(stats.health).toMatchObject({ status: 'down', connected: false });
    expect(stats.l1.hits).toBeGreaterThanOrEqual(10);
    expect(
      await answersWithin(TIMEOUT_MS, () => ctx.cache.trackApiQuota('u', 'daily', 10)),
    ).toMatchObject({ used: 1, degraded: true });

    // This server keeps nothing on disk: after the restart, writes must reach it again.
    await server.restart();
    await waitForFake(async () => (await ctx.store.set('x', 'y', 1000)) === true);
    jest.useRealTimers();
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
    fakeTime();
    server.pause();
    try {
      expect(
        await answersWithin(TIMEOUT_MS, () =>
          ctx.cache.getOrSet('market_data:frozen', () => ({ v: 2 })),
        ),
      ).toEqual({ v: 1 });
      // A cold key waits for Redis exactly until the command timeout, then takes the factory.
      expect(
        await answersWithin(
          TIMEOUT_MS,
          () => ctx.cache.getOrSet('market_data:frozen-cold', () => ({ v: 3 })),
          true,
        ),
      ).toEqual({ v: 3 });
    } finally {
      server.resume();
    }
    await waitForFake(async () => (await ctx.store.set('y', 'z', 1000)) === true);
    jest.useRealTimers();
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
      fakeTime(); // the proxy's latency runs on fake time too: the reply is due at 400 fake ms
      proxy.setLatency(400);
      expect(await answersWithin(TIMEOUT_MS, () => ctx.store.get('k'), true)).toBeUndefined();
      proxy.setLatency(0);
      await waitForFake(async () => (await ctx.store.get('k')) === 'v');
      jest.useRealTimers();
      expect((ctx.store as RedisCache).getStats().errors).toBeGreaterThan(0);
    } finally {
      jest.useRealTimers();
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
