/**
 * Invalidation in a fleet (issue 11), against a redis-server of this suite's own (it is frozen
 * and stopped here, so never the shared harness server):
 * - a ticker with 2,500 cached keys invalidated: only its L1 entries go, on both instances; the
 *   other tickers' entries stay (counted before and after);
 * - Redis frozen (SIGSTOP): the invalidation says it is incomplete, the calling instance stops
 *   serving the entry at once, and once Redis answers again the queued invalidation is replayed
 *   (L2 removal and bus message), so the other instance stops serving it too;
 * - Redis stopped: the admin route answers 503 with what was done, and the app stops serving the
 *   entry at once (`X-Cache` is no longer `HIT`).
 *
 * Cross-instance checks use event ordering (a barrier key, as in test/promises/fleet.test.ts);
 * waits on recovery are generous bounds, not the subject.
 */
import request from 'supertest';
import { RedisServerProcess } from '../harness/redis-server.js';
import {
  createCacheContext,
  uniquePrefix,
  waitFor,
  type CacheContext,
} from '../support/cache-context.js';
import { startMarketApp, type MarketApp } from '../e2e/market-e2e-support.js';

const BARRIER = 'market_data:barrier';
const BIG = 'BIGT';
const OTHERS = ['OTA', 'OTB', 'OTC'];

describe('invalidation in a fleet of two instances on one Redis', () => {
  let server: RedisServerProcess;
  let a: CacheContext;
  let b: CacheContext;
  let round = 0;

  /** Resolves once B has applied every bus message A sent before this call. */
  async function settled(): Promise<void> {
    round++;
    await b.cache.set(BARRIER, `b${round}`);
    await a.cache.set(BARRIER, `a${round}`);
    await waitFor(async () => (await b.cache.lookup(BARRIER)).value === `a${round}`, 20_000);
  }

  beforeAll(async () => {
    server = await RedisServerProcess.start();
    const options = { redisUrl: server.url, keyPrefix: uniquePrefix('inv'), commandTimeoutMs: 500 };
    a = await createCacheContext(options);
    b = await createCacheContext(options);
    await waitFor(() => a.tiered.busConnected && b.tiered.busConnected, 10_000);
    await settled();
  });
  afterAll(async () => {
    if (server && !server.isRunning) await server.restart().catch(() => undefined);
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  it('a ticker with 2,500 keys: its L1 entries go on both instances, the other tickers’ stay', async () => {
    const keys = (ticker: string, n: number): string[] =>
      Array.from({ length: n }, (_, i) => `price_bars:${ticker}:d${i}`);
    const bigKeys = keys(BIG, 2500);
    const otherKeys = OTHERS.flatMap((t) => keys(t, 100));
    const all = [...bigKeys, ...otherKeys];
    expect(await a.cache.pipelineSet(all.map((key, i) => ({ key, value: i })))).toBe(true);
    await settled(); // A's write messages reached B before B warms its L1
    expect((await b.cache.pipelineGet<number>(all)).every((v) => v !== undefined)).toBe(true);

    const counts = (c: CacheContext): number[] =>
      [BIG, ...OTHERS].map((t) => c.tiered.l1.countEntity(t));
    expect(counts(a)).toEqual([2500, 100, 100, 100]);
    expect(counts(b)).toEqual([2500, 100, 100, 100]);
    // L1 sizes without the barrier key (B's barrier write may evict A's copy at any time).
    const size = (c: CacheContext): number =>
      c.tiered.l1.size - (c.tiered.l1.get(c.cache.keys.storageKey(BARRIER)) ? 1 : 0);
    const sizeA = size(a);
    const sizeB = size(b);

    const result = await a.manager.invalidateStockCacheResult(BIG);
    expect(result).toMatchObject({ deleted: 2500, complete: true, l1Evicted: 2500, l2: 'done' });
    await settled();

    expect(counts(a)).toEqual([0, 100, 100, 100]);
    expect(counts(b)).toEqual([0, 100, 100, 100]);
    // Nothing else left either L1.
    expect(size(a)).toBe(sizeA - 2500);
    expect(size(b)).toBe(sizeB - 2500);
    expect(await b.cache.lookup(`price_bars:${OTHERS[0]}:d7`)).toMatchObject({ source: 'l1' });
    expect((await b.cache.lookup(`price_bars:${BIG}:d7`)).success).toBe(false);
  });

  it('Redis frozen: incomplete, the caller stops serving at once, the other instance once Redis is back (replay)', async () => {
    const key = 'stock_price:FRZ:latest';
    const kept = 'stock_price:FRZK:latest';
    await a.manager.setStockPrice('FRZ', { price: 1 });
    await a.manager.setStockPrice('FRZK', { price: 2 });
    await settled();
    for (const c of [a, b]) {
      expect(await c.manager.getStockPrice('FRZ')).toEqual({ price: 1 });
      expect(await c.cache.lookup(key)).toMatchObject({ source: 'l1' });
    }
    expect(await b.manager.getStockPrice('FRZK')).toEqual({ price: 2 });

    server.pause();
    let resumed = false;
    try {
      const result = await a.manager.invalidateStockCacheResult('FRZ');
      expect(result).toMatchObject({ complete: false, l2: 'failed', queued: true, l1Evicted: 1 });
      expect(a.tiered.l1.countEntity('FRZ')).toBe(0);
      expect((await a.cache.lookup(key)).success).toBe(false); // not from L1, and L2 is frozen
      expect(await b.cache.lookup(key)).toMatchObject({ source: 'l1' }); // B was not told yet
      server.resume();
      resumed = true;
      // Before or after the replay, A never serves the old value from L2.
      expect((await a.cache.lookup(key)).success).toBe(false);
      await waitFor(async () => !(await b.cache.lookup(key)).success, 20_000);
      expect(await a.store.exists(a.cache.keys.storageKey(key))).toBe(false);
      expect((await b.cache.lookup(kept)).value).toEqual({ price: 2 }); // the other ticker's value stays
    } finally {
      if (!resumed) server.resume();
    }
  }, 60_000);

  it('pattern flush and delete during a freeze evict the local L1 at once and report it', async () => {
    await a.cache.set('news_data:PFZ:earnings', ['n']);
    await a.cache.set('market_data:dfz', 'd');
    expect(await a.cache.lookup('news_data:PFZ:earnings')).toMatchObject({ source: 'l1' });
    server.pause();
    try {
      const flushed = await a.cache.invalidate({ pattern: 'news_data:PFZ:*' });
      expect(flushed).toMatchObject({ complete: false, l1Evicted: 1, queued: true });
      const deleted = await a.cache.invalidate({ key: 'market_data:dfz' });
      expect(deleted).toMatchObject({ complete: false, l1Evicted: 1, queued: true });
      expect(a.tiered.l1.get(a.cache.keys.storageKey('market_data:dfz'))).toBeUndefined();
    } finally {
      server.resume();
    }
    await waitFor(
      async () => !(await a.store.exists(a.cache.keys.storageKey('market_data:dfz'))),
      20_000,
    );
  }, 60_000);
});

describe('admin invalidation with Redis stopped (HTTP)', () => {
  const ADMIN_KEY = 'admin-key-for-invalidation-tests-0123456789';
  let server: RedisServerProcess;
  let app: MarketApp;

  beforeAll(async () => {
    server = await RedisServerProcess.start();
    app = await startMarketApp({ REDIS_URL: server.url, ADMIN_API_KEY: ADMIN_KEY });
  });
  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  it('answers 503 with what was done, and stops serving the entry at once', async () => {
    const http = app.app.getHttpServer();
    await request(http).get('/api/stocks/AAPL/price').expect(200);
    const hit = await request(http).get('/api/stocks/AAPL/price').expect(200);
    expect(hit.headers['x-cache']).toBe('HIT');

    await server.stop();
    const res = await request(http)
      .delete('/api/cache/stocks/AAPL')
      .set('X-Admin-Key', ADMIN_KEY)
      .expect(503);
    expect(res.body).toMatchObject({ deleted: 0, complete: false, l2: 'failed', queued: true });
    expect(res.body.l1Evicted).toBeGreaterThanOrEqual(1);

    const after = await request(http).get('/api/stocks/AAPL/price').expect(200);
    expect(after.headers['x-cache']).not.toBe('HIT');
  });
});
