import { jest } from '@jest/globals';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { FactoryError, FactoryTimeoutError } from '../../src/cache/errors/cache-errors.js';
import type { MarketCacheModuleOptions } from '../../src/cache/market-cache.options.js';
import { RedisServerProcess } from '../harness/redis-server.js';
import { testCluster, testRedis } from '../harness/test-env.js';
import {
  createCacheContext,
  sleep,
  uniquePrefix,
  waitFor,
  type CacheContext,
} from '../support/cache-context.js';
import { REAL_EXCEPT_DATE } from '../support/fake-time.js';

/** A promise with its resolve function exposed. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Tracks whether `promise` has settled (its rejection is observed, and kept for the test). */
function settling<T>(promise: Promise<T>): { promise: Promise<T>; settled: boolean } {
  const state = { promise, settled: false };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

/** Lets pending I/O callbacks and microtasks run (`setImmediate` is never faked here). */
async function flushIo(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

function describeCrossInstance(label: string, options: () => MarketCacheModuleOptions) {
  describe(`cross-instance L1 invalidation (${label})`, () => {
    let a: CacheContext;
    let b: CacheContext;
    beforeAll(async () => {
      const keyPrefix = uniquePrefix('x');
      a = await createCacheContext({ ...options(), keyPrefix });
      b = await createCacheContext({ ...options(), keyPrefix });
      await waitFor(() => a.tiered.busConnected && b.tiered.busConnected, 5000);
      await sleep(50);
    });
    afterAll(async () => {
      await a.close();
      await b.close();
    });

    // B's L1 copy would otherwise be served for the whole TTL (market_data: 300 s): only A's bus
    // message can make B change its answer. Polled with a generous deadline (a real Redis relays
    // the message), never a tight wall-clock limit.
    it('B sees A’s new value once A’s bus message arrives, not at the end of the TTL', async () => {
      expect(await a.cache.set('market_data:k', { v: 1 })).toBe(true);
      expect(await b.cache.getOrSet('market_data:k', () => ({ v: 'factory' }))).toEqual({ v: 1 });
      expect((await b.cache.lookup('market_data:k')).source).toBe('l1');
      await a.cache.set('market_data:k', { v: 2 });
      await waitFor(
        async () =>
          (
            await b.cache.getOrSet<{ v: number | string }>('market_data:k', () => ({
              v: 'factory',
            }))
          ).v === 2,
        10_000,
      );
    });

    it('B stops serving a key A deleted once A’s bus message arrives', async () => {
      await a.cache.set('market_data:d', { v: 1 });
      await b.cache.getOrSet('market_data:d', () => ({ v: 'factory' }));
      expect((await b.cache.lookup('market_data:d')).source).toBe('l1');
      await a.cache.delete('market_data:d');
      await waitFor(async () => !(await b.cache.lookup('market_data:d')).success, 10_000);
    });

    it('B stops serving a namespace A cleared once A’s bus message arrives', async () => {
      expect(await a.cache.set('market_data:n', { v: 1 }, { namespace: 'screens' })).toBe(true);
      expect(
        await b.cache.getOrSet('market_data:n', () => ({ v: 'b' }), { namespace: 'screens' }),
      ).toEqual({ v: 1 });
      expect((await b.cache.lookup('market_data:n', { namespace: 'screens' })).source).toBe('l1');
      await a.tiered.clearNamespace('screens');
      await waitFor(
        async () => !(await b.cache.lookup('market_data:n', { namespace: 'screens' })).success,
        10_000,
      );
      expect(
        await b.cache.getOrSet('market_data:n', () => ({ v: 'fresh' }), { namespace: 'screens' }),
      ).toEqual({ v: 'fresh' });
    });
  });
}

describeCrossInstance('standalone', () => ({ redisUrl: testRedis().url }));
describeCrossInstance('cluster', () => ({
  clusterNodes: testCluster().nodeList.split(','),
  commandTimeoutMs: 1000,
}));

describe('stale-while-revalidate and fail-safe', () => {
  let a: CacheContext;
  let b: CacheContext;
  // Time is the subject: only `Date` is faked, so entry timelines move at once while Redis,
  // timeouts and the bus keep real time.
  const realTimers = REAL_EXCEPT_DATE;
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  /**
   * From here on `setTimeout` is faked too (with `Date`, `ms` ahead): the factory's soft and hard
   * timeouts fire exactly when the test advances the fake clock. Redis I/O stays real.
   */
  const fakeTimeouts = (ms = 0) =>
    jest.useFakeTimers({
      doNotFake: realTimers.filter((t) => t !== 'setTimeout' && t !== 'clearTimeout'),
      now: Date.now() + ms,
    });
  // Factories a test holds open are released after it, also when it fails (nothing hangs).
  const held: Array<() => void> = [];
  beforeEach(() => jest.useFakeTimers({ doNotFake: [...realTimers] }));
  afterEach(() => {
    jest.useRealTimers();
    for (const release of held.splice(0)) release();
  });
  beforeAll(async () => {
    const base: MarketCacheModuleOptions = {
      redisUrl: testRedis().url,
      keyPrefix: uniquePrefix('swr'),
      swrPercent: 50,
      maxStalenessSeconds: { [CacheKeyType.STOCK_PRICE]: 1 },
      failSafeThrottleMs: 200,
    };
    a = await createCacheContext(base);
    b = await createCacheContext(base);
    await waitFor(() => a.tiered.busConnected && b.tiered.busConnected, 5000);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('serves the old value at once after the stale point, with one refresh across two instances', async () => {
    let calls = 0;
    const refresh = deferred<void>(); // holds every call after the first until released
    held.push(() => refresh.resolve());
    const factory = async () => {
      const n = ++calls;
      if (n > 1) await refresh.promise;
      return { n };
    };
    const opts = { ttl: 0.4, keyType: CacheKeyType.STOCK_PRICE };
    expect(await a.cache.getOrSet('stock_price:SWR', factory, opts)).toEqual({ n: 1 });
    expect(await b.cache.getOrSet('stock_price:SWR', factory, opts)).toEqual({ n: 1 });
    await Promise.all([a.tiered.drain(), b.tiered.drain()]); // the fill's L2 write and lock release
    advance(250); // past the stale point (50% of 400 ms), before expiry
    // "At once": both answers arrive while the refresh is still held (a generous real-time
    // deadline only turns a hang into a clear failure).
    let deadline: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      Promise.all([
        a.cache.getOrSetResult('stock_price:SWR', factory, opts),
        b.cache.getOrSetResult('stock_price:SWR', factory, opts),
      ]),
      new Promise<'waited for the refresh'>((r) => {
        deadline = setTimeout(() => r('waited for the refresh'), 10_000);
      }),
    ]).finally(() => clearTimeout(deadline));
    if (answered === 'waited for the refresh') throw new Error(answered);
    const [ra, rb] = answered;
    expect([ra.value, rb.value]).toEqual([{ n: 1 }, { n: 1 }]);
    expect([ra.source, rb.source]).toEqual(['stale', 'stale']);
    refresh.resolve();
    await a.tiered.drain();
    await b.tiered.drain();
    expect(calls).toBe(2);
    await waitFor(
      async () => (await b.cache.getOrSet('stock_price:SWR', factory, opts)).n === 2,
      500,
    );
    expect(await a.cache.getOrSet('stock_price:SWR', factory, opts)).toEqual({ n: 2 });
    expect(calls).toBe(2);
    expect(
      (await a.cache.getCacheStatistics()).swr.staleHits +
        (await b.cache.getCacheStatistics()).swr.staleHits,
    ).toBeGreaterThanOrEqual(2);
  });

  it('serves the stale value when the source fails after expiry, then a typed error past maxStaleness', async () => {
    const opts = { ttl: 0.2, keyType: CacheKeyType.STOCK_PRICE };
    await a.cache.getOrSet('stock_price:FS', () => ({ p: 10 }), opts);
    await a.tiered.drain();
    advance(300); // expired; max staleness is 1 s past expiry
    const failing = () => {
      throw new Error('vendor down');
    };
    const r = await a.cache.getOrSetResult('stock_price:FS', failing, opts);
    expect(r).toMatchObject({ value: { p: 10 }, source: 'stale' });
    const throttled = await a.cache.getOrSetResult(
      'stock_price:FS',
      () => ({ p: 'not called' }),
      opts,
    );
    expect(throttled).toMatchObject({ value: { p: 10 }, source: 'stale' });
    const stats = (await a.cache.getCacheStatistics()).byKeyType[CacheKeyType.STOCK_PRICE];
    expect(stats.failSafe.served).toBeGreaterThanOrEqual(1);
    expect(stats.failSafe.throttled).toBeGreaterThanOrEqual(1);
    advance(1000); // past expiry + max staleness
    await expect(a.cache.getOrSet('stock_price:FS', failing, opts)).rejects.toBeInstanceOf(
      FactoryError,
    );
    await expect(a.cache.getOrSet('stock_price:FS', failing, opts)).rejects.toMatchObject({
      code: 'CACHE_FACTORY_FAILED',
    });
  });

  it('answers the stale value after the soft timeout and stores the late result', async () => {
    const opts = {
      ttl: 0.2,
      keyType: CacheKeyType.STOCK_PRICE,
      softTimeoutMs: 50,
      hardTimeoutMs: 2000,
    };
    await a.cache.getOrSet('stock_price:SOFT', () => ({ p: 'old' }), opts);
    await a.tiered.drain();
    fakeTimeouts(250); // expired, still kept for fail-safe; the factory's timers now run on fake time
    const started = deferred<void>();
    const slow = deferred<{ p: string }>();
    held.push(() => slow.resolve({ p: 'new' }));
    const call = settling(
      a.cache.getOrSetResult(
        'stock_price:SOFT',
        () => {
          started.resolve();
          return slow.promise;
        },
        opts,
      ),
    );
    await started.promise; // the factory runs: its timeouts are armed
    jest.advanceTimersByTime(49);
    await flushIo();
    expect(call.settled).toBe(false);
    jest.advanceTimersByTime(1); // exactly the soft timeout
    await flushIo();
    expect(call.settled).toBe(true);
    expect(await call.promise).toMatchObject({ value: { p: 'old' }, source: 'stale' });
    slow.resolve({ p: 'new' }); // the factory answers late: its value is stored
    await a.tiered.drain();
    expect((await b.cache.lookup('stock_price:SOFT')).value).toEqual({ p: 'new' });
  });

  it('gives a typed timeout error past the hard timeout when nothing stale exists', async () => {
    fakeTimeouts();
    const started = deferred<void>();
    const slow = deferred<number>();
    held.push(() => slow.resolve(1));
    const call = settling(
      a.cache.getOrSet(
        'stock_price:HARD',
        () => {
          started.resolve();
          return slow.promise;
        },
        { hardTimeoutMs: 100 },
      ),
    );
    await started.promise;
    jest.advanceTimersByTime(99);
    await flushIo();
    expect(call.settled).toBe(false);
    jest.advanceTimersByTime(1); // exactly the hard timeout
    await flushIo();
    expect(call.settled).toBe(true);
    await expect(call.promise).rejects.toBeInstanceOf(FactoryTimeoutError);
    slow.resolve(1);
    await a.tiered.drain();
  });

  it('never caches a failing factory and never leaks its rejection', async () => {
    await expect(
      a.cache.getOrSet('market_data:boom', () => Promise.reject(new Error('nope'))),
    ).rejects.toBeInstanceOf(FactoryError);
    expect(await a.cache.getOrSet('market_data:boom', () => 'ok')).toBe('ok');
  });
});

describe('L1 bounds and safety', () => {
  it('stays under its byte bound and serves oversize values from L2', async () => {
    const ctx = await createCacheContext({
      redisUrl: testRedis().url,
      keyPrefix: uniquePrefix('l1'),
      l1MaxBytes: 64 * 1024,
      l1MaxItemBytes: 8 * 1024,
    });
    try {
      const value = 'x'.repeat(1000);
      for (let i = 0; i < 128; i++) await ctx.cache.set(`market_data:fill:${i}`, value); // ≈ 2 × 64 KiB
      expect(ctx.tiered.l1.bytes).toBeLessThanOrEqual(64 * 1024);
      expect(ctx.tiered.l1.size).toBeLessThan(128);
      await ctx.cache.set('market_data:huge', 'y'.repeat(20_000));
      expect(await ctx.cache.lookup('market_data:huge')).toMatchObject({
        success: true,
        source: 'l2',
      });
      expect((await ctx.cache.getCacheStatistics()).l1.utilization).toBeLessThanOrEqual(1);
    } finally {
      await ctx.close();
    }
  });

  it('hands out frozen values: a caller mutating one never changes the next caller’s', async () => {
    const ctx = await createCacheContext({
      redisUrl: testRedis().url,
      keyPrefix: uniquePrefix('fz'),
    });
    try {
      const first = await ctx.cache.getOrSet('market_data:fz', () => ({
        list: [1, 2],
        nested: { a: 1 },
      }));
      expect(() => {
        (first as { nested: { a: number } }).nested.a = 99;
      }).toThrow(TypeError);
      expect(() => (first.list as number[]).push(3)).toThrow(TypeError);
      expect(
        await ctx.cache.getOrSet('market_data:fz', () => ({ list: [], nested: { a: 0 } })),
      ).toEqual({ list: [1, 2], nested: { a: 1 } });
      const source = { a: 1 };
      await ctx.cache.set('market_data:src', source);
      source.a = 2;
      expect(await ctx.cache.getOrSet('market_data:src', () => ({ a: 0 }))).toEqual({ a: 1 });
      expect(Object.isFrozen(source)).toBe(false);
    } finally {
      await ctx.close();
    }
  });
});

describe('Redis stopped under the tiered cache', () => {
  it('keeps hitting L1, sends misses to the factory, and shows the breaker in stats', async () => {
    const server = await RedisServerProcess.start();
    const ctx = await createCacheContext({
      redisUrl: server.url,
      keyPrefix: uniquePrefix('l1d'),
      commandTimeoutMs: 200,
    });
    try {
      await ctx.cache.set('market_data:hot', { v: 'hot' });
      await server.kill();
      for (let i = 0; i < 8; i++) {
        expect(await ctx.cache.getOrSet('market_data:hot', () => ({ v: 'factory' }))).toEqual({
          v: 'hot',
        });
        expect(await ctx.cache.getOrSet(`market_data:miss${i}`, () => ({ v: i }))).toEqual({
          v: i,
        });
      }
      const stats = await ctx.cache.getCacheStatistics();
      expect(stats.store.breaker).toBe('open');
      expect(stats.l1.hits).toBeGreaterThanOrEqual(8);
      expect(stats.health.status).toBe('down');
    } finally {
      await ctx.close();
      await server.stop();
    }
  });

  it('clears its L1 when the bus reconnects after a drop (messages may be lost)', async () => {
    const server = await RedisServerProcess.start();
    const ctx = await createCacheContext({ redisUrl: server.url, keyPrefix: uniquePrefix('bus') });
    try {
      await waitFor(() => ctx.tiered.busConnected, 5000);
      await ctx.cache.set('market_data:kept', 1);
      expect(ctx.tiered.l1.size).toBe(1);
      await server.kill();
      await server.restart();
      await waitFor(() => ctx.tiered.busConnected, 5000);
      await waitFor(() => ctx.tiered.l1.size === 0, 2000);
    } finally {
      await ctx.close();
      await server.stop();
    }
  });
});
