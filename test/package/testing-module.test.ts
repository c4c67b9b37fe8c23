/**
 * `MarketCacheTestingModule` (the `market-cache/testing` entry) as a user's unit test sees it: a
 * service of theirs injects `CacheService` / `CacheManager`, and the test asserts hits, misses,
 * stale serving, expiry and invalidation by moving the module's `CacheTestClock`, with no Redis.
 * The clock is the subject here, so Jest's fake timers stay off: they would replace the `Date`
 * this clock patches.
 */
import { Inject, Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
// The modules themselves, not the barrel: the barrel would also load the HTTP, health and metrics
// parts (Terminus, prom-client, cache-manager) that this file never uses.
import { CacheManager } from '../../src/cache/cache.manager.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { MARKET_CACHE_STORE } from '../../src/cache/constants.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import type { CacheStore } from '../../src/cache/stores/cache-store.js';
import { TieredCache } from '../../src/cache/tiered/tiered-cache.js';
import { CacheTestClock, MarketCacheTestingModule } from '../../src/cache/testing/index.js';

/** A user's service: a quote from a source behind the cache. */
@Injectable()
class QuoteService {
  sourceCalls = 0;
  constructor(@Inject(CacheService) private readonly cache: CacheService) {}

  quote(ticker: string): Promise<{ ticker: string; price: number; source: string }> {
    return this.cache
      .getOrSetResult(this.cache.keys.stockPrice(ticker), () => {
        this.sourceCalls++;
        return { ticker, price: 100 + this.sourceCalls };
      })
      .then((r) => ({ ...r.value, source: r.source }));
  }
}

/** The user's feature module: it imports nothing of the cache (the testing module is global). */
@Module({ providers: [QuoteService], exports: [QuoteService] })
class QuotesModule {}

const START = Date.UTC(2026, 0, 5, 9, 0, 0);

describe('MarketCacheTestingModule', () => {
  let moduleRef: TestingModule;
  let quotes: QuoteService;
  let clock: CacheTestClock;

  beforeEach(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [
        MarketCacheTestingModule.forRoot({ ttlSeconds: { stock_price: 100 }, startAt: START }),
        QuotesModule,
      ],
    }).compile();
    quotes = moduleRef.get(QuoteService);
    clock = moduleRef.get(CacheTestClock);
  });

  afterEach(async () => {
    await moduleRef.close();
  });

  it('runs on the memory driver and starts the clock at startAt', () => {
    expect(moduleRef.get<CacheStore>(MARKET_CACHE_STORE).describe().kind).toBe('memory');
    expect(Date.now()).toBe(START);
    expect(clock.now()).toBe(START);
  });

  it('misses once, then serves hits without the source, for a feature module of the user', async () => {
    expect(await quotes.quote('7203')).toEqual({ ticker: '7203', price: 101, source: 'factory' });
    expect(await quotes.quote('7203')).toEqual({ ticker: '7203', price: 101, source: 'l1' });
    expect(quotes.sourceCalls).toBe(1);
    const stats = await moduleRef.get(CacheService).getCacheStatistics();
    expect(stats.byKeyType[CacheKeyType.STOCK_PRICE].l1).toMatchObject({ hits: 1, misses: 1 });
  });

  it('serves the stale value in the SWR window, refreshes it once in the background, then the new one', async () => {
    await quotes.quote('7203');
    // Fresh until 80 s (the last 20 % of 100 s is the SWR window); L1 keeps it 60 s
    // (l1MaxTtlSeconds), then the memory L2 answers, as Redis would.
    clock.advanceSeconds(59);
    expect(await quotes.quote('7203')).toMatchObject({ price: 101, source: 'l1' });
    clock.advanceSeconds(20);
    expect(await quotes.quote('7203')).toMatchObject({ price: 101, source: 'l2' });
    clock.advanceSeconds(2);
    expect(await quotes.quote('7203')).toMatchObject({ price: 101, source: 'stale' });
    await moduleRef.get(TieredCache).drain();
    expect(quotes.sourceCalls).toBe(2);
    expect(await quotes.quote('7203')).toMatchObject({ price: 102, source: 'l1' });
  });

  it('expires an entry once the clock passes its TTL', async () => {
    const manager = moduleRef.get(CacheManager);
    await manager.setStockPrice('7203', { price: 1 });
    clock.advanceSeconds(99);
    expect(await manager.getStockPrice('7203')).toEqual({ price: 1 });
    clock.advanceSeconds(1);
    expect(await manager.getStockPrice('7203')).toBeNull();
    expect(await quotes.quote('7203')).toMatchObject({ source: 'factory' });
  });

  it('invalidates one ticker at once and leaves the others cached', async () => {
    await quotes.quote('7203');
    await quotes.quote('6758');
    expect(await moduleRef.get(CacheManager).invalidateStockCache('7203')).toBeGreaterThan(0);
    expect(await quotes.quote('7203')).toMatchObject({ price: 103, source: 'factory' });
    expect(await quotes.quote('6758')).toMatchObject({ price: 102, source: 'l1' });
  });

  it('refuses to move backwards, naming the argument', () => {
    expect(() => clock.advanceMs(-1)).toThrow(expect.objectContaining({ field: 'ms' }));
    expect(() => clock.advanceTo(START - 1)).toThrow(
      expect.objectContaining({ code: 'CACHE_INVALID_OPTION', field: 'instant' }),
    );
    expect(clock.advanceTo(new Date(START + 5000))).toBe(START + 5000);
    expect(Date.now()).toBe(START + 5000);
  });
});

describe('CacheTestClock lifetime', () => {
  it('gives Date.now back when the testing module closes, and then refuses to move', async () => {
    const realNow = Date.now;
    const moduleRef = await Test.createTestingModule({
      imports: [MarketCacheTestingModule.forRoot({ startAt: 0 })],
    }).compile();
    const clock = moduleRef.get(CacheTestClock);
    expect(Date.now()).toBe(0);
    await moduleRef.close();
    expect(Date.now).toBe(realNow);
    expect(Math.abs(Date.now() - (performance.timeOrigin + performance.now()))).toBeLessThan(
      60_000,
    );
    expect(() => clock.advanceMs(1)).toThrow(expect.objectContaining({ field: 'clock' }));
  });

  it('lets a newer clock take over from one left installed, and restores the real one after it', () => {
    const realNow = Date.now;
    const first = new CacheTestClock({ startAt: 1_000 }).install();
    const second = new CacheTestClock({ startAt: 5_000 }).install();
    expect(first.installed).toBe(false);
    expect(Date.now()).toBe(5_000);
    first.uninstall(); // a no-op: it no longer owns Date.now
    expect(Date.now()).toBe(5_000);
    second.uninstall();
    expect(Date.now).toBe(realNow);
  });

  it('is not global when asked, so a feature module must import it', async () => {
    await expect(
      Test.createTestingModule({
        imports: [MarketCacheTestingModule.forRoot({ isGlobal: false }), QuotesModule],
      }).compile(),
    ).rejects.toThrow(/CacheService/);
  });
});
