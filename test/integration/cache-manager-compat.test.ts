import { CACHE_MANAGER, CacheInterceptor, CacheKey, CacheTTL } from '@nestjs/cache-manager';
import {
  Controller,
  Get,
  Inject,
  Injectable,
  UseInterceptors,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Cache } from 'cache-manager';
import { Redis } from 'ioredis';
import request from 'supertest';
import { CacheService } from '../../src/cache/cache.service.js';
import { MarketCacheModule } from '../../src/cache/market-cache.module.js';
import { CacheManagerCompatModule } from '../../src/cache/compat/cache-manager-compat.module.js';
import { TieredKeyvStore } from '../../src/cache/compat/tiered-keyv.store.js';
import { TieredCache } from '../../src/cache/tiered/tiered-cache.js';
import { testRedis } from '../harness/test-env.js';
import { sleep, uniquePrefix } from '../support/cache-context.js';

/** Counts handler runs of the stock-interceptor route. */
@Injectable()
class Runs {
  n = 0;
}

/** A route cached by Nest's stock `CacheInterceptor`, as code written for `@nestjs/cache-manager` does. */
@Controller('stock')
@UseInterceptors(CacheInterceptor)
class StockInterceptorController {
  constructor(@Inject(Runs) private readonly runs: Runs) {}

  @Get('quote')
  @CacheTTL(60_000)
  quote() {
    return { price: 42, run: ++this.runs.n };
  }

  @Get('keyed')
  @CacheKey('custom:key')
  keyed() {
    return { run: ++this.runs.n };
  }
}

describe('CACHE_MANAGER over the market cache (CacheManagerCompatModule)', () => {
  let app: INestApplication;
  let cm: Cache;
  let cache: CacheService;
  let tiered: TieredCache;
  let raw: Redis;
  let prefix: string;
  const stored = (key: string) =>
    `${prefix}:${TieredKeyvStore.logicalKeyOf(`cache_manager:${key}`)}`;

  beforeAll(async () => {
    prefix = uniquePrefix('cm');
    const moduleRef = await Test.createTestingModule({
      imports: [
        MarketCacheModule.forRoot({ redisUrl: testRedis().url, keyPrefix: prefix, isGlobal: true }),
        CacheManagerCompatModule.register(),
      ],
      controllers: [StockInterceptorController],
      providers: [Runs],
    }).compile();
    app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
    await app.init();
    cm = app.get<Cache>(CACHE_MANAGER);
    cache = app.get(CacheService);
    tiered = app.get(TieredCache);
    raw = new Redis(testRedis().url);
  });
  afterAll(async () => {
    await app.close();
    raw.disconnect();
  });

  it('goes through our store (no second connection, no cache-manager-ioredis-yet)', () => {
    expect(cm.stores).toHaveLength(1);
    expect(cm.stores[0].store).toBeInstanceOf(TieredKeyvStore);
  });

  it('gets, sets and reads back through CacheService, encoded once', async () => {
    const quote = { ticker: 'AAPL', price: 190.5, tags: ['a', 'b'] };
    expect(await cm.get('quote:AAPL')).toBeUndefined();
    expect(await cm.set('quote:AAPL', quote, 60_000)).toEqual(quote);
    expect(await cm.get('quote:AAPL')).toEqual(quote);
    // The same entry through the library: logical key `cache_manager:quote:AAPL`.
    const viaService = await cache.lookup(TieredKeyvStore.logicalKeyOf('cache_manager:quote:AAPL'));
    expect(viaService).toMatchObject({ success: true, value: quote });
    // In Redis: our one JSON envelope whose value is the object itself (not a JSON string inside JSON).
    const text = await raw.get(stored('quote:AAPL'));
    expect(text).not.toBeNull();
    expect(JSON.parse(text as string).v).toEqual(quote);
    // And from another instance sharing Redis (cold L1).
    tiered.l1.clear();
    expect(await cm.get('quote:AAPL')).toEqual(quote);
  });

  it('answers ttl as the expiry instant, applying the given TTL (ms) or the policy default', async () => {
    await cm.set('ttl:given', 1, 30_000);
    const expires = await cm.ttl('ttl:given');
    expect(expires).toBeGreaterThan(Date.now() + 25_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 30_000);
    const givenPttl = await raw.pttl(stored('ttl:given'));
    expect(givenPttl).toBeGreaterThan(25_000);
    expect(givenPttl).toBeLessThanOrEqual(30_000);
    await cm.set('ttl:default', 1);
    expect(await raw.pttl(stored('ttl:default'))).toBeGreaterThan(290_000);
    expect(await raw.pttl(stored('ttl:default'))).toBeLessThanOrEqual(300_000);
    expect(await cm.ttl('ttl:missing')).toBeUndefined();
  });

  it('mgets, dels and mdels', async () => {
    await cm.mset([
      { key: 'm:1', value: { n: 1 } },
      { key: 'm:2', value: { n: 2 } },
    ]);
    expect(await cm.mget(['m:1', 'm:missing', 'm:2'])).toEqual([{ n: 1 }, undefined, { n: 2 }]);
    expect(await cm.del('m:1')).toBe(true);
    expect(await cm.get('m:1')).toBeUndefined();
    expect(await raw.exists(stored('m:1'))).toBe(0);
    await cm.mdel(['m:2']);
    expect(await cm.mget(['m:1', 'm:2'])).toEqual([undefined, undefined]);
  });

  it('wraps a factory: computed once, also for concurrent callers', async () => {
    let calls = 0;
    const factory = async () => {
      calls++;
      await sleep(50);
      return { computed: calls };
    };
    const results = await Promise.all(
      Array.from({ length: 20 }, () => cm.wrap('wrap:key', factory, 60_000)),
    );
    expect(results.every((r) => r.computed === 1)).toBe(true);
    expect(await cm.wrap('wrap:key', factory, 60_000)).toEqual({ computed: 1 });
    expect(calls).toBe(1);
  });

  it('stores keys with characters a logical key may not carry, one-to-one', async () => {
    await cm.set('/api/x?y=1&z=[2]', 'first');
    await cm.set('/api/x?y=1&z=%5B2%5D', 'second');
    await cm.set('!bang *star*', 'third');
    expect(await cm.get('/api/x?y=1&z=[2]')).toBe('first');
    expect(await cm.get('/api/x?y=1&z=%5B2%5D')).toBe('second');
    expect(await cm.get('!bang *star*')).toBe('third');
  });

  it("serves Nest's stock CacheInterceptor from the same Redis", async () => {
    const first = await request(app.getHttpServer()).get('/stock/quote').expect(200);
    const second = await request(app.getHttpServer()).get('/stock/quote').expect(200);
    expect(second.body).toEqual(first.body);
    expect(second.headers['x-cache']).toBe('HIT');
    await request(app.getHttpServer()).get('/stock/keyed').expect(200);
    await request(app.getHttpServer()).get('/stock/keyed').expect(200);
    expect(app.get(Runs).n).toBe(2);
    expect(await raw.exists(stored('/stock/quote'))).toBe(1);
    expect(await raw.exists(stored('custom:key'))).toBe(1);
  });

  it('clear() removes only the keys written through CACHE_MANAGER: never a key outside the module prefix', async () => {
    const outside = `${uniquePrefix('other')}:canary`;
    await raw.set(outside, 'keep me', 'EX', 60);
    await cache.set('market_data:library-key', { mine: true });
    await cm.set('to-clear:1', 1);
    await cm.set('to-clear:2', 2);

    expect(await cm.clear()).toBe(true);

    expect(await cm.get('to-clear:1')).toBeUndefined();
    expect(await raw.keys(`${prefix}:cache_manager:*`)).toEqual([]);
    expect(await raw.get(outside)).toBe('keep me');
    tiered.l1.clear();
    expect(await cache.lookup('market_data:library-key')).toMatchObject({
      success: true,
      value: { mine: true },
    });
    await raw.del(outside);
  });
});
