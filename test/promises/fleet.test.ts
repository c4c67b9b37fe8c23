/**
 * Promises of a fleet sharing one Redis:
 * - an invalidation (delete, pattern flush, clear, `CacheManager.invalidateStockCache` /
 *   `invalidateKeyType`) and a batch write (`pipelineSet` / `setMany`) evict the key from every
 *   other instance's L1 — and invalidating one ticker leaves other tickers' L1 entries alone;
 * - fail-safe: an instance whose own L1 is empty finds an expired value in Redis that is still
 *   within its max staleness, the source fails → the stale value is served (source `stale`).
 *
 * Cross-instance checks use event ordering, not time: after A's operation, A rewrites a "barrier"
 * key that B holds in its L1 with another value. B sees A's barrier value only once A's barrier
 * message arrived — and A's earlier message (same publisher connection, same channel) came first.
 */
import { jest } from '@jest/globals';
import { FactoryError } from '../../src/cache/errors/cache-errors.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import type { MarketCacheModuleOptions } from '../../src/cache/market-cache.options.js';
import { testRedis } from '../harness/test-env.js';
import {
  createCacheContext,
  uniquePrefix,
  waitFor,
  type CacheContext,
} from '../support/cache-context.js';
import { REAL_EXCEPT_DATE } from '../support/fake-time.js';

const BARRIER = 'market_data:barrier';

describe('other instances’ L1 after an invalidation or a batch write', () => {
  let a: CacheContext;
  let b: CacheContext;
  let round = 0;

  /** Resolves once B has applied every bus message A sent before this call. */
  async function settled(): Promise<void> {
    round++;
    await b.cache.set(BARRIER, `b${round}`); // B's L1 holds b<n> until a message from A evicts it
    await a.cache.set(BARRIER, `a${round}`); // writes L2, then publishes after A's earlier messages
    await waitFor(async () => (await b.cache.lookup(BARRIER)).value === `a${round}`, 10_000);
  }

  /** Makes B hold each key in its L1 (after A's earlier writes reached B, so none evicts them later). */
  async function warmB(...entries: Array<[key: string, expected: unknown]>): Promise<void> {
    await settled();
    for (const [key, expected] of entries) {
      expect(await b.cache.getOrSet(key, () => 'factory on B')).toEqual(expected);
      expect(await b.cache.lookup(key)).toMatchObject({ source: 'l1', value: expected });
    }
  }

  beforeAll(async () => {
    const options: MarketCacheModuleOptions = {
      redisUrl: testRedis().url,
      keyPrefix: uniquePrefix('fleet'),
    };
    a = await createCacheContext(options);
    b = await createCacheContext(options);
    await waitFor(() => a.tiered.busConnected && b.tiered.busConnected, 10_000);
    await settled(); // the bus carries A's messages to B
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('delete: B misses the key A deleted', async () => {
    await a.cache.set('market_data:del', { v: 1 });
    await warmB(['market_data:del', { v: 1 }]);
    await a.cache.delete('market_data:del');
    await settled();
    expect((await b.cache.lookup('market_data:del')).success).toBe(false);
  });

  it('flushPattern: B misses every key A flushed, and keeps the ones outside the pattern', async () => {
    await a.cache.set('news_data:FL1:earnings', ['n1']);
    await a.cache.set('news_data:FL2:earnings', ['n2']);
    await a.cache.set('market_data:FLkeep', 'kept');
    await warmB(
      ['news_data:FL1:earnings', ['n1']],
      ['news_data:FL2:earnings', ['n2']],
      ['market_data:FLkeep', 'kept'],
    );
    expect(await a.cache.flushPattern('news_data:*')).toBe(2);
    await settled();
    expect((await b.cache.lookup('news_data:FL1:earnings')).success).toBe(false);
    expect((await b.cache.lookup('news_data:FL2:earnings')).success).toBe(false);
    expect(await b.cache.lookup('market_data:FLkeep')).toMatchObject({ source: 'l1' });
  });

  it('flushPattern of more than 1,000 keys: B misses them too', async () => {
    const entries = Array.from({ length: 1100 }, (_, i) => ({
      key: `market_data:bulk:${i}`,
      value: i,
    }));
    expect(await a.cache.pipelineSet(entries)).toBe(true);
    await warmB(['market_data:bulk:7', 7], ['market_data:bulk:1099', 1099]);
    expect(await a.cache.flushPattern('market_data:bulk:*')).toBe(1100);
    await settled();
    expect((await b.cache.lookup('market_data:bulk:7')).success).toBe(false);
    expect((await b.cache.lookup('market_data:bulk:1099')).success).toBe(false);
  });

  it('clear(): B misses every key of the module', async () => {
    await a.cache.set('market_data:clr', 'x');
    await warmB(['market_data:clr', 'x']);
    await a.cache.clear();
    await settled();
    expect((await b.cache.lookup('market_data:clr')).success).toBe(false);
  });

  it('invalidateStockCache: B misses every key of the ticker and still serves other tickers from its L1', async () => {
    await a.manager.setStockPrice('INV', { price: 10 });
    await a.manager.setNewsData('INV', 'earnings', [{ h: 'x' }]);
    await a.manager.setStockPrice('INVX', { price: 11 });
    await a.manager.setStockPrice('OTHER', { price: 12 });
    await settled();
    expect(await b.manager.getStockPrice('INV')).toEqual({ price: 10 });
    expect(await b.manager.getNewsData('INV', 'earnings')).toEqual([{ h: 'x' }]);
    expect(await b.manager.getStockPrice('INVX')).toEqual({ price: 11 });
    expect(await b.manager.getStockPrice('OTHER')).toEqual({ price: 12 });
    const priceKey = a.cache.keys.stockPrice('OTHER');
    expect(await b.cache.lookup(priceKey)).toMatchObject({ source: 'l1' });

    expect(await a.manager.invalidateStockCache('INV')).toBe(2);
    await settled();
    expect(await b.manager.getStockPrice('INV')).toBeNull();
    expect(await b.manager.getNewsData('INV', 'earnings')).toBeNull();
    expect(await b.cache.lookup(priceKey)).toMatchObject({ source: 'l1', value: { price: 12 } });
    expect(await b.cache.lookup(a.cache.keys.stockPrice('INVX'))).toMatchObject({
      source: 'l1',
      value: { price: 11 },
    });
  });

  it('invalidateKeyType: B misses the keys of that type and entity', async () => {
    await a.manager.setAiAnalysis('KT', 'short_term', { s: 'buy' });
    await settled();
    expect(await b.manager.getAiAnalysis('KT', 'short_term')).toEqual({ s: 'buy' });
    expect(await a.manager.invalidateKeyType(CacheKeyType.AI_ANALYSIS, 'KT')).toBe(1);
    await settled();
    expect(await b.manager.getAiAnalysis('KT', 'short_term')).toBeNull();
  });

  it('pipelineSet: B answers the new values, not its L1 copies', async () => {
    await a.cache.pipelineSet([
      { key: 'market_data:ps:1', value: 'old1' },
      { key: 'market_data:ps:2', value: 'old2' },
    ]);
    await warmB(['market_data:ps:1', 'old1'], ['market_data:ps:2', 'old2']);
    expect(
      await a.cache.pipelineSet([
        { key: 'market_data:ps:1', value: 'new1' },
        { key: 'market_data:ps:2', value: 'new2' },
      ]),
    ).toBe(true);
    await settled();
    expect(await b.cache.pipelineGet(['market_data:ps:1', 'market_data:ps:2'])).toEqual([
      'new1',
      'new2',
    ]);
    expect(await b.cache.getOrSet('market_data:ps:1', () => 'factory on B')).toBe('new1');
  });

  it('TieredCache.setMany: B answers the new value, not its L1 copy', async () => {
    await a.tiered.setMany([{ key: 'market_data:sm', value: { v: 'old' } }]);
    await warmB(['market_data:sm', { v: 'old' }]);
    await a.tiered.setMany([{ key: 'market_data:sm', value: { v: 'new' } }]);
    await settled();
    expect(await b.cache.lookup('market_data:sm')).toMatchObject({ value: { v: 'new' } });
  });
});

describe('fail-safe from Redis on an instance whose own L1 is empty', () => {
  let a: CacheContext;
  let b: CacheContext;
  // Time is the subject: only `Date` is faked (at a fixed instant), so entry timelines move at
  // once while Redis, timeouts and the bus keep real time.
  const realTimers = REAL_EXCEPT_DATE;
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  const opts = { ttl: 10, keyType: CacheKeyType.STOCK_PRICE };
  const failing = () => {
    throw new Error('vendor down');
  };

  beforeAll(async () => {
    const options: MarketCacheModuleOptions = {
      redisUrl: testRedis().url,
      keyPrefix: uniquePrefix('fs'),
      maxStalenessSeconds: { [CacheKeyType.STOCK_PRICE]: 60 },
      failSafeThrottleMs: 5000,
    };
    a = await createCacheContext(options);
    b = await createCacheContext(options);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: [...realTimers] });
    jest.setSystemTime(new Date('2024-03-15T14:30:00Z'));
  });
  afterEach(() => jest.useRealTimers());

  it('serves the expired value another instance stored (source stale), and calls the source no more while throttled', async () => {
    const written = await a.cache.getOrSetResult('stock_price:FSB', () => ({ p: 42 }), opts);
    expect(written.source).toBe('factory');
    await a.tiered.drain(); // the L2 write
    advance(15_000); // expired 5 s ago; max staleness is 60 s past expiry

    const r = await b.cache.getOrSetResult('stock_price:FSB', failing, opts);
    expect(r).toEqual({ value: { p: 42 }, source: 'stale', asOf: written.asOf });
    let calls = 0;
    const again = await b.cache.getOrSetResult(
      'stock_price:FSB',
      () => {
        calls++;
        return { p: 'fresh' };
      },
      opts,
    );
    expect(again).toMatchObject({ value: { p: 42 }, source: 'stale' });
    expect(calls).toBe(0);
    const stats = (await b.cache.getCacheStatistics()).byKeyType[CacheKeyType.STOCK_PRICE];
    expect(stats.failSafe).toEqual({ served: 1, throttled: 1 });
  });

  it('never serves it past the max staleness: the source failure reaches the caller', async () => {
    await a.cache.getOrSet('stock_price:FSP', () => ({ p: 7 }), opts);
    await a.tiered.drain();
    advance(10_000 + 60_000 + 1_000); // past expiry + max staleness (still in Redis: real time)
    await expect(b.cache.getOrSet('stock_price:FSP', failing, opts)).rejects.toBeInstanceOf(
      FactoryError,
    );
  });
});
