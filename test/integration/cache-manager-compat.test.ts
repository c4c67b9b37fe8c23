import { CACHE_MANAGER, CacheInterceptor, CacheKey, CacheTTL } from '@nestjs/cache-manager';
import {
  Controller,
  Get,
  Inject,
  Injectable,
  UseInterceptors,
  type INestApplication,
  type INestApplicationContext,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Cache } from 'cache-manager';
import { Redis } from 'ioredis';
import request from 'supertest';
import { jest } from '@jest/globals';
import { CacheService } from '../../src/cache/cache.service.js';
import { MARKET_CACHE_STORE } from '../../src/cache/constants.js';
import type { CacheStore } from '../../src/cache/stores/cache-store.js';
import { MarketCacheModule } from '../../src/cache/market-cache.module.js';
import {
  CacheManagerCompatModule,
  type CacheManagerCompatOptions,
} from '../../src/cache/compat/cache-manager-compat.module.js';
import {
  resolveOptions,
  type MarketCacheModuleOptions,
} from '../../src/cache/market-cache.options.js';
import { TieredKeyvStore } from '../../src/cache/compat/tiered-keyv.store.js';
import { TieredCache } from '../../src/cache/tiered/tiered-cache.js';
import type { Keyv } from 'keyv';
import { RedisServerProcess, redisCommand } from '../harness/redis-server.js';
import { testRedis } from '../harness/test-env.js';
import { sleep, uniquePrefix, waitFor } from '../support/cache-context.js';

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

  it('answers ttl as the expiry instant, applying the given TTL (ms); none or 0 is the longest TTL (30 days)', async () => {
    await cm.set('ttl:given', 1, 30_000);
    const expires = await cm.ttl('ttl:given');
    expect(expires).toBeGreaterThan(Date.now() + 25_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 30_000);
    const givenPttl = await raw.pttl(stored('ttl:given'));
    expect(givenPttl).toBeGreaterThan(25_000);
    expect(givenPttl).toBeLessThanOrEqual(30_000);
    const days30 = 30 * 86_400_000;
    for (const key of ['ttl:none', 'ttl:zero']) {
      await (key === 'ttl:none' ? cm.set(key, 1) : cm.set(key, 1, 0));
      // ttl() answers the real expiry (stock @keyv/redis answers undefined: no expiry at all).
      expect(await cm.ttl(key)).toBeGreaterThan(Date.now() + days30 - 60_000);
      expect(await cm.ttl(key)).toBeLessThanOrEqual(Date.now() + days30);
      tiered.l1.clear(); // from L2 as well, then from L1 again (its copy's timeline is cut to 60 s)
      expect(await cm.ttl(key)).toBeGreaterThan(Date.now() + days30 - 60_000);
      expect(await cm.ttl(key)).toBeGreaterThan(Date.now() + days30 - 60_000);
      expect(await raw.pttl(stored(key))).toBeGreaterThan(days30 - 60_000);
      expect(await raw.pttl(stored(key))).toBeLessThanOrEqual(days30);
    }
    // A value served from L1 is answered with its expiry without asking Redis; from L2, once.
    const store = app.get<CacheStore>(MARKET_CACHE_STORE);
    const pttl = jest.spyOn(store, 'ttl');
    try {
      await cm.set('ttl:l1', 1, 120_000);
      expect(await cm.ttl('ttl:l1')).toBeGreaterThan(Date.now() + 110_000);
      expect(pttl).not.toHaveBeenCalled();
      tiered.l1.clear();
      expect(await cm.ttl('ttl:l1')).toBeGreaterThan(Date.now() + 110_000);
      expect(await cm.ttl('ttl:l1')).toBeGreaterThan(Date.now() + 110_000);
      expect(pttl).toHaveBeenCalledTimes(1);
    } finally {
      pttl.mockRestore();
    }
    // Longer than the longest TTL: cut to it.
    await cm.set('ttl:long', 1, 90 * 86_400_000);
    expect(await raw.pttl(stored('ttl:long'))).toBeLessThanOrEqual(days30);
    expect(await cm.ttl('ttl:missing')).toBeUndefined();
  });

  it('answers mutable copies: changing a value read does not change the next read', async () => {
    await cm.set('mut:quote', { price: 1, tags: ['a'], nested: { n: 1 } });
    const first = await cm.get<{ price: number; tags: string[]; nested: { n: number } }>(
      'mut:quote',
    );
    expect(Object.isFrozen(first)).toBe(false);
    (first as { price: number }).price = 2;
    first?.tags.push('b');
    (first as { nested: { n: number } }).nested.n = 2;
    expect(await cm.get('mut:quote')).toEqual({ price: 1, tags: ['a'], nested: { n: 1 } });
    tiered.l1.clear();
    const fromL2 = await cm.get<{ tags: string[] }>('mut:quote');
    fromL2?.tags.push('c');
    expect(await cm.get('mut:quote')).toEqual({ price: 1, tags: ['a'], nested: { n: 1 } });
    const [many] = await cm.mget<{ tags: string[] }>(['mut:quote']);
    many?.tags.push('d');
    expect(await cm.get('mut:quote')).toEqual({ price: 1, tags: ['a'], nested: { n: 1 } });
    // CacheService keeps its frozen, shared values.
    const viaService = await cache.get<{ tags: string[] }>(
      TieredKeyvStore.logicalKeyOf('cache_manager:mut:quote'),
    );
    expect(Object.isFrozen(viaService?.value.tags)).toBe(true);
  });

  it('round-trips Buffers, also inside objects, and keeps objects that look like its tags', async () => {
    const value = {
      file: Buffer.from('hello'),
      list: [Buffer.from([0, 255])],
      tag: { '!buf': 'x' },
    };
    await cm.set('buf:1', value);
    for (const pass of ['l1', 'l2']) {
      if (pass === 'l2') tiered.l1.clear();
      const back = await cm.get<typeof value>('buf:1');
      expect(Buffer.isBuffer(back?.file)).toBe(true);
      expect(Buffer.isBuffer(back?.list[0])).toBe(true);
      expect(back).toEqual(value);
    }
  });

  it('stores keys of any length (digest form past 1024 characters), one key per key, and clears them', async () => {
    const long = '/api/search?q=' + 'x'.repeat(4000);
    await cm.set(long + 'a', 'A');
    await cm.set(long + 'b', 'B');
    await cm.set('!*?' + long, 'C'); // escaped characters count three
    expect(await cm.get(long + 'a')).toBe('A');
    expect(await cm.get(long + 'b')).toBe('B');
    expect(await cm.get('!*?' + long)).toBe('C');
    tiered.l1.clear();
    expect(await cm.mget([long + 'a', long + 'b'])).toEqual(['A', 'B']);
    const keys = await raw.keys(`${prefix}:cache_manager:%%*`);
    expect(keys).toHaveLength(3);
    expect(keys.every((k) => k.length < 1024)).toBe(true);
    expect(await cm.del(long + 'a')).toBe(true);
    expect(await cm.get(long + 'a')).toBeUndefined();
    await cm.clear();
    expect(await cm.get(long + 'b')).toBeUndefined();
    expect(await raw.keys(`${prefix}:cache_manager:%%*`)).toEqual([]);
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

/** One application with the market cache and `CACHE_MANAGER` over it. */
interface CompatApp {
  app: INestApplicationContext;
  cm: Cache;
  cache: CacheService;
  close(): Promise<void>;
}

async function startCompat(
  options: MarketCacheModuleOptions,
  compat: CacheManagerCompatOptions = {},
): Promise<CompatApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      MarketCacheModule.forRoot({ commandTimeoutMs: 2000, ...options, isGlobal: true }),
      CacheManagerCompatModule.register(compat),
    ],
  }).compile();
  const app = await moduleRef.init();
  return {
    app,
    cm: app.get<Cache>(CACHE_MANAGER),
    cache: app.get(CacheService),
    close: () => app.close(),
  };
}

describe('CACHE_MANAGER: a refused overwrite leaves nothing stale, here and on another instance', () => {
  let a: CompatApp;
  let b: CompatApp;
  beforeAll(async () => {
    const prefix = uniquePrefix('cmr');
    a = await startCompat({ redisUrl: testRedis().url, keyPrefix: prefix });
    b = await startCompat({ redisUrl: testRedis().url, keyPrefix: prefix });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  const refusals: Array<[string, unknown, string]> = [
    [
      'a value over maxValueBytes (5 MiB string)',
      'x'.repeat(5 * 1024 * 1024),
      'CACHE_VALUE_TOO_LARGE',
    ],
    ['a BigInt', { n: 1n }, 'CACHE_SERIALIZATION'],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
      'CACHE_SERIALIZATION',
    ],
  ];

  it.each(refusals)(
    '%s: set rejects with its code and a set event carrying the error; get answers undefined on both instances',
    async (_, value, code) => {
      const key = `refused:${code}:${Math.random()}`;
      await a.cm.set(key, 'OLD');
      expect(await b.cm.get(key)).toBe('OLD'); // now in B's L1 too
      const events: Array<{ key: string; error?: unknown }> = [];
      const onSet = (e: { key: string; error?: unknown }) => events.push(e);
      a.cm.on('set', onSet);
      try {
        await expect(a.cm.set(key, value)).rejects.toMatchObject({ code });
      } finally {
        a.cm.off('set', onSet);
      }
      expect(events).toEqual([
        expect.objectContaining({ key, error: expect.objectContaining({ code }) }),
      ]);
      expect(await a.cm.get(key)).toBeUndefined();
      await waitFor(async () => (await b.cm.get(key)) === undefined, 5000);
      // Gone from L2 as well: a cold L1 reads nothing.
      b.app.get(TieredCache).l1.clear();
      expect(await b.cm.get(key)).toBeUndefined();
    },
  );

  it('wrap rejects when the factory value is refused; mset rejects and stores the other entries', async () => {
    await expect(a.cm.wrap('wrap:bigint', async () => ({ n: 1n }))).rejects.toMatchObject({
      code: 'CACHE_SERIALIZATION',
    });
    expect(await a.cm.get('wrap:bigint')).toBeUndefined();
    await expect(
      a.cm.mset<unknown>([
        { key: 'mset:ok', value: 1 },
        { key: 'mset:refused', value: 1n },
      ]),
    ).rejects.toMatchObject({ code: 'CACHE_SERIALIZATION' });
    expect(await b.cm.get('mset:ok')).toBe(1);
    expect(await b.cm.get('mset:refused')).toBeUndefined();
  });

  it('set(k, undefined) stores nothing: get answers undefined on both instances', async () => {
    await a.cm.set('undef', 'OLD');
    expect(await b.cm.get('undef')).toBe('OLD');
    await a.cm.set('undef', undefined);
    expect(await a.cm.get('undef')).toBeUndefined();
    await waitFor(async () => (await b.cm.get('undef')) === undefined, 5000);
  });
});

describe('CACHE_MANAGER with ttlMs, frozenValues and maxTtlSeconds', () => {
  let c: CompatApp;
  let raw: Redis;
  let prefix: string;
  beforeAll(async () => {
    prefix = uniquePrefix('cmt');
    c = await startCompat(
      { redisUrl: testRedis().url, keyPrefix: prefix, maxTtlSeconds: 3600 },
      { ttlMs: 60_000, frozenValues: true },
    );
    raw = new Redis(testRedis().url);
  });
  afterAll(async () => {
    await c.close();
    raw.disconnect();
  });
  const pttl = (key: string) =>
    raw.pttl(`${prefix}:${TieredKeyvStore.logicalKeyOf(`cache_manager:${key}`)}`);

  it('set(k, v) takes ttlMs; set(k, v, 0) and longer TTLs take maxTtlSeconds', async () => {
    await c.cm.set('t:none', 1);
    expect(await pttl('t:none')).toBeGreaterThan(55_000);
    expect(await pttl('t:none')).toBeLessThanOrEqual(60_000);
    expect(await c.cm.ttl('t:none')).toBeLessThanOrEqual(Date.now() + 60_000);
    await c.cm.set('t:zero', 1, 0);
    await c.cm.set('t:long', 1, 86_400_000);
    for (const key of ['t:zero', 't:long']) {
      expect(await pttl(key)).toBeGreaterThan(3_500_000);
      expect(await pttl(key)).toBeLessThanOrEqual(3_600_000);
      expect(await c.cm.ttl(key)).toBeGreaterThan(Date.now() + 3_500_000);
    }
  });

  it('frozenValues: answers the shared, deep-frozen value (mutating it throws)', async () => {
    await c.cm.set('f:1', { list: [1] });
    const v = await c.cm.get<{ list: number[] }>('f:1');
    expect(Object.isFrozen(v?.list)).toBe(true);
    expect(() => v?.list.push(2)).toThrow(TypeError);
    expect(await c.cm.get('f:1')).toBe(v);
  });

  it('rejects a maxTtlSeconds that is not a positive integer, naming it', () => {
    expect(() => resolveOptions({ maxTtlSeconds: 0 })).toThrow(/maxTtlSeconds/);
    expect(() => resolveOptions({ maxTtlSeconds: 1.5 })).toThrow(/maxTtlSeconds/);
    expect(resolveOptions({}).maxTtlSeconds).toBe(2_592_000);
  });
});

describe('CACHE_MANAGER: an overwrite while Redis is down leaves nothing stale once it is back', () => {
  let server: RedisServerProcess;
  let a: CompatApp;
  let b: CompatApp;
  beforeAll(async () => {
    server = await RedisServerProcess.start();
    const prefix = uniquePrefix('cmd');
    a = await startCompat({ redisUrl: server.url, keyPrefix: prefix, commandTimeoutMs: 200 });
    b = await startCompat({ redisUrl: server.url, keyPrefix: prefix, commandTimeoutMs: 200 });
  });
  afterAll(async () => {
    server.resume();
    await a.close();
    await b.close();
    await server.stop();
  });

  it('set resolves, the Keyv store reports the error, get answers undefined on both instances', async () => {
    await a.cm.set('down:k', 'OLD');
    expect(await b.cm.get('down:k')).toBe('OLD');
    const errors: unknown[] = [];
    (a.cm.stores[0] as Keyv).on('error', (e: unknown) => errors.push(e));
    server.pause();
    try {
      await a.cm.set('down:k', 'NEW'); // cache-manager resolves: a cache outage is not an error of the caller
      expect(errors).toEqual([expect.objectContaining({ code: 'CACHE_STORE_UNAVAILABLE' })]);
      expect(await a.cm.get('down:k')).toBeUndefined(); // neither NEW (not stored) nor OLD
    } finally {
      server.resume();
    }
    // Once Redis answers, the removal of OLD is replayed in L2 and on the bus.
    await waitFor(
      async () =>
        (await redisCommand(
          server.port,
          'EXISTS',
          `${a.cache.keys.prefix}:cache_manager:down:k`,
        )) === '0',
      10_000,
    );
    await waitFor(async () => (await b.cm.get('down:k')) === undefined, 10_000);
    expect(await a.cm.get('down:k')).toBeUndefined();
  });
});
