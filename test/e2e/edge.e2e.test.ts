import { HttpException, NotFoundException } from '@nestjs/common';
import { EDGE_CONFIG_DEFAULTS } from '../../config/edge-config.js';
import { Redis } from 'ioredis';
import request from 'supertest';
import { CacheManager } from '../../src/cache/cache.manager.js';
import {
  FactoryError,
  FactoryTimeoutError,
  CacheValidationError,
} from '../../src/cache/errors/cache-errors.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { toHttpError } from '../../src/http-exception.filter.js';
import { MarketDataError } from '../../src/market/providers/market-data.errors.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix } from '../support/cache-context.js';
import {
  invalidExpositionLines,
  sampleValue,
  startApp,
  startFixture,
  testAppConfig,
  type TestApp,
} from './support/app-harness.js';
import {
  AppCachedRouteModule,
  HandlerCalls,
  HttpCacheFixtureModule,
} from './support/http-cache.fixture.js';

describe('HttpCacheInterceptor (fixture app on a harness Redis)', () => {
  let t: TestApp;
  let calls: HandlerCalls;
  let prefix: string;
  let raw: Redis;

  beforeAll(async () => {
    prefix = uniquePrefix('http');
    t = await startFixture({ imports: [HttpCacheFixtureModule.forRedis(testRedis().url, prefix)] });
    calls = t.app.get(HandlerCalls);
    raw = new Redis(testRedis().url);
  });
  afterAll(async () => {
    await t.close();
    raw.disconnect();
  });

  it('answers the second identical GET from the cache: X-Cache HIT, same body and ETag, Cache-Control max-age', async () => {
    const first = await request(t.server).get('/t/quotes/AAPL?fields=all&currency=EUR').expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['cache-control']).toBe('max-age=300');
    expect(first.headers.etag).toMatch(/^"[\w-]+"$/);
    // Same parameters in another order: the same entry.
    const second = await request(t.server)
      .get('/t/quotes/AAPL?currency=EUR&fields=all')
      .expect(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(Number(/max-age=(\d+)/.exec(second.headers['cache-control'])?.[1])).toBeLessThanOrEqual(
      300,
    );
    expect(calls.of('quote')).toBe(1);
    // Stored once, under the ticker, so invalidateStockCache drops cached responses too.
    expect(await raw.keys(`${prefix}:stock_price:AAPL:http:*`)).toHaveLength(1);
    const other = await request(t.server).get('/t/quotes/MSFT?currency=EUR').expect(200);
    expect(other.headers['x-cache']).toBe('MISS');
    expect(calls.of('quote')).toBe(2);
  });

  it('answers 304 with no body to a matching If-None-Match', async () => {
    const first = await request(t.server).get('/t/quotes/NVDA').expect(200);
    const etag = first.headers.etag;
    const again = await request(t.server)
      .get('/t/quotes/NVDA')
      .set('If-None-Match', etag)
      .expect(304);
    expect(again.text ?? '').toBe('');
    expect(again.headers.etag).toBe(etag);
    await request(t.server)
      .get('/t/quotes/NVDA')
      .set('If-None-Match', '"something-else"')
      .expect(200);
    const head = await request(t.server).head('/t/quotes/NVDA').expect(200);
    expect(head.headers['x-cache']).toBe('HIT');
    expect(calls.of('quote')).toBeGreaterThan(0);
  });

  it('refuses query parameters the route does not accept, naming them', async () => {
    const res = await request(t.server).get('/t/quotes/AAPL?currency=EUR&utm_source=x').expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, field: 'utm_source' });
    expect(res.body.message).toContain('utm_source');
  });

  it('never caches a 500, a non-2xx answer, a cookie-setting answer or a stream', async () => {
    await request(t.server).get('/t/fail').expect(500);
    const again = await request(t.server).get('/t/fail').expect(500);
    expect(again.body).toEqual({
      statusCode: 500,
      message: 'handler failed',
      error: 'Internal Server Error',
    });
    expect(calls.of('fail')).toBe(2);

    const s1 = await request(t.server).get('/t/status').expect(503);
    const s2 = await request(t.server).get('/t/status').expect(503);
    expect([s1.body.run, s2.body.run]).toEqual([1, 2]);

    const c1 = await request(t.server).get('/t/cookie').expect(200);
    expect(c1.headers['set-cookie']).toBeDefined();
    await request(t.server).get('/t/cookie').expect(200);
    expect(calls.of('cookie')).toBe(2);

    const f1 = await request(t.server).get('/t/file').expect(200);
    expect(f1.body.toString()).toBe('hello');
    await request(t.server).get('/t/file').expect(200);
    expect(calls.of('file')).toBe(2);

    for (const route of ['fail', 'status', 'cookie', 'file'])
      expect(await raw.keys(`${prefix}:market_data:_:http:/t/${route}*`)).toEqual([]);
  });

  it("never answers user A's cached response to user B on a varyBy user route", async () => {
    const a1 = await request(t.server)
      .get('/t/me')
      .set('Authorization', 'Bearer token-A')
      .expect(200);
    const b1 = await request(t.server)
      .get('/t/me')
      .set('Authorization', 'Bearer token-B')
      .expect(200);
    expect(a1.body.user).toBe('Bearer token-A');
    expect(b1.body.user).toBe('Bearer token-B');
    expect(b1.headers['x-cache']).toBe('MISS');
    const a2 = await request(t.server)
      .get('/t/me')
      .set('Authorization', 'Bearer token-A')
      .expect(200);
    const b2 = await request(t.server)
      .get('/t/me')
      .set('Authorization', 'Bearer token-B')
      .expect(200);
    expect([a2.headers['x-cache'], b2.headers['x-cache']]).toEqual(['HIT', 'HIT']);
    expect(a2.body).toEqual(a1.body);
    expect(b2.body).toEqual(b1.body);
    expect(a2.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    expect(a2.headers.vary).toContain('Authorization');
    const anonymous = await request(t.server).get('/t/me').expect(200);
    expect(anonymous.body.user).toBe('anonymous');
    expect(calls.of('me')).toBe(3);
    // No credential reaches a key: identities are hashed.
    const keys = await raw.keys(`${prefix}:market_data:_:http:/t/me*`);
    expect(keys).toHaveLength(3);
    expect(keys.join(' ')).not.toContain('token');
  });

  it('answers prepared bytes as JSON to every request, also when they are not stored, shared by concurrent requests, or the request is not cacheable', async () => {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => request(t.server).get('/t/prepared-unstored').expect(200)),
    );
    // Not stored: the requests that waited on the first one's run get its "not shareable" verdict
    // and run their own handler; every answer is the handler's JSON, never the wrapper object.
    for (const a of answers) {
      expect(a.headers['content-type']).toMatch(/^application\/json/);
      expect(a.headers['x-prepared']).toBe('yes');
      expect(Object.keys(a.body as object)).toEqual(['run']);
    }
    expect(calls.of('prepared-unstored')).toBeGreaterThan(1);
    const ranged = await request(t.server).get('/t/prepared-unstored').set('Range', 'bytes=0-3');
    expect(ranged.status).toBe(200);
    expect(Object.keys(ranged.body as object)).toEqual(['run']);
    expect(ranged.headers['x-prepared']).toBe('yes');
  });

  it('runs the handler once for 100 concurrent identical cold requests', async () => {
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => request(t.server).get('/t/slow')),
    );
    expect(responses.every((r) => r.status === 200 && r.body.run === 1)).toBe(true);
    expect(calls.of('slow')).toBe(1);
    expect(new Set(responses.map((r) => r.headers.etag)).size).toBe(1);
    const later = await request(t.server).get('/t/slow').expect(200);
    expect(later.headers['x-cache']).toBe('HIT');
    expect(later.headers['cache-control']).toMatch(/^max-age=(5\d|60)$/);
  });

  it('leaves routes without @CacheResponse alone', async () => {
    const r = await request(t.server).get('/t/plain').expect(200);
    expect(r.headers['x-cache']).toBeUndefined();
    await request(t.server).get('/t/plain').expect(200);
    expect(calls.of('plain')).toBe(2);
  });

  it('exposes /metrics as valid Prometheus text whose hit counter moves after a cached request', async () => {
    const before = await request(t.server).get('/metrics').expect(200);
    expect(before.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(invalidExpositionLines(before.text)).toEqual([]);
    const hitsBefore =
      sampleValue(before.text, 'market_cache_hits_total', {
        tier: 'l1',
        key_type: 'stock_price',
      }) ?? 0;
    await request(t.server).get('/t/quotes/AAPL?currency=EUR&fields=all').expect(200);
    const after = await request(t.server).get('/metrics').expect(200);
    expect(invalidExpositionLines(after.text)).toEqual([]);
    expect(
      sampleValue(after.text, 'market_cache_hits_total', { tier: 'l1', key_type: 'stock_price' }),
    ).toBe(hitsBefore + 1);
    expect(sampleValue(after.text, 'market_cache_redis_up')).toBe(1);
    expect(sampleValue(after.text, 'market_cache_breaker_state', { state: 'closed' })).toBe(1);
    expect(sampleValue(after.text, 'market_cache_l1_entries')).toBeGreaterThan(0);
    expect(
      sampleValue(after.text, 'market_cache_operation_duration_seconds_count', {
        operation: 'http',
        tier: 'l1',
      }),
    ).toBeGreaterThan(0);
  });
});

describe('the app edge: quota, admin routes, metrics (AppModule on a harness Redis)', () => {
  const ADMIN_KEY = 'admin-secret-for-tests';
  let t: TestApp;
  let prefix: string;

  beforeAll(async () => {
    prefix = uniquePrefix('edge');
    t = await startApp(
      testAppConfig({
        REDIS_URL: testRedis().url,
        CACHE_KEY_PREFIX: prefix,
        ADMIN_API_KEY: ADMIN_KEY,
        API_DAILY_QUOTA: '5',
      }),
      [AppCachedRouteModule],
    );
  });
  afterAll(() => t.close());

  it('caches @CacheResponse routes of any module through the global interceptor; invalidateStockCache drops them', async () => {
    await request(t.server).get('/api/fixture/quote/AMD').expect(200).expect('X-Cache', 'MISS');
    const hit = await request(t.server)
      .get('/api/fixture/quote/AMD')
      .expect(200)
      .expect('X-Cache', 'HIT');
    expect(hit.body).toEqual({ ticker: 'AMD', run: 1 });
    expect(await t.app.get(CacheManager).invalidateStockCache('AMD')).toBe(1);
    const again = await request(t.server)
      .get('/api/fixture/quote/AMD')
      .expect(200)
      .expect('X-Cache', 'MISS');
    expect(again.body.run).toBe(2);
  });

  it('counts requests with X-API-Key on /api/**: the 6th of a limit of 5 gets 429 with Retry-After', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await request(t.server).get('/api/cache/stats').set('X-API-Key', 'key-five');
      statuses.push(r.status);
      expect(r.headers['x-ratelimit-limit']).toBe('5');
      expect(r.headers['x-ratelimit-remaining']).toBe(String(Math.max(0, 4 - i)));
      const reset = Number(r.headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThan(Date.now() / 1000);
      expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 86_400 + 1);
      if (i === 5) {
        expect(r.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
        expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
        expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(86_400);
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    // Other keys, keyless requests and non-API routes are not affected.
    await request(t.server).get('/api/cache/stats').set('X-API-Key', 'another-key').expect(200);
    // Keyless requests are not counted against a key: they carry the anonymous throttle's limit.
    const keyless = await request(t.server).get('/api/cache/stats').expect(200);
    expect(keyless.headers['x-ratelimit-limit']).toBe(String(EDGE_CONFIG_DEFAULTS.throttleLimit));
    const health = await request(t.server)
      .get('/health/live')
      .set('X-API-Key', 'key-five')
      .expect(200);
    expect(health.headers['x-ratelimit-limit']).toBeUndefined();
    await request(t.server).get('/metrics').set('X-API-Key', 'key-five').expect(200);
  });

  it('lets exactly 100 of 200 concurrent requests through with a limit of 100', async () => {
    const hundred = await startApp(
      testAppConfig({
        REDIS_URL: testRedis().url,
        CACHE_KEY_PREFIX: uniquePrefix('q100'),
        API_DAILY_QUOTA: '100',
      }),
    );
    try {
      const responses = await Promise.all(
        Array.from({ length: 200 }, () =>
          request(hundred.server).get('/api/cache/stats').set('X-API-Key', 'burst'),
        ),
      );
      expect(responses.filter((r) => r.status === 200)).toHaveLength(100);
      expect(responses.filter((r) => r.status === 429)).toHaveLength(100);
      expect(responses.every((r) => r.headers['x-ratelimit-limit'] === '100')).toBe(true);
    } finally {
      await hundred.close();
    }
  });

  it('refuses admin routes without the key or with a wrong one (401), and invalidates one ticker with it', async () => {
    const manager = t.app.get(CacheManager);
    await manager.setStockPrice('AAPL', { price: 190 });
    await manager.setNewsData('AAPL', 'earnings', [{ headline: 'x' }]);
    await manager.setAiAnalysis('AAPL', 'short_term', { signal: 'hold' });
    await manager.setStockPrice('AAPLX', { price: 1 });
    await manager.setStockPrice('MSFT', { price: 420 });

    const none = await request(t.server).delete('/api/cache/stocks/AAPL').expect(401);
    expect(none.body).toMatchObject({ statusCode: 401 });
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    await request(t.server)
      .delete('/api/cache/stocks/AAPL')
      .set('X-Admin-Key', 'wrong')
      .expect(401);
    await request(t.server)
      .delete('/api/cache/stocks/AAPL')
      .set('Authorization', `Bearer ${ADMIN_KEY}x`)
      .expect(401);
    expect(await manager.getStockPrice('AAPL')).toEqual({ price: 190 });

    const ok = await request(t.server)
      .delete('/api/cache/stocks/AAPL')
      .set('Authorization', `Bearer ${ADMIN_KEY}`)
      .expect(200);
    expect(ok.body).toEqual({ deleted: 3 });
    expect(await manager.getStockPrice('AAPL')).toBeNull();
    expect(await manager.getNewsData('AAPL', 'earnings')).toBeNull();
    expect(await manager.getStockPrice('AAPLX')).toEqual({ price: 1 });
    expect(await manager.getStockPrice('MSFT')).toEqual({ price: 420 });
  });

  it('flushes by key type and entity, validating keyType (400 naming it) and refusing unknown fields', async () => {
    const manager = t.app.get(CacheManager);
    await manager.setNewsData('TSLA', 'earnings', [1]);
    await manager.setNewsData('TSLA', 'macro', [2]);
    await manager.setNewsData('GOOG', 'earnings', [3]);
    await manager.setStockPrice('TSLA', { price: 250 });
    const admin = { 'X-Admin-Key': ADMIN_KEY };

    await request(t.server)
      .post('/api/cache/flush')
      .send({ keyType: 'news_data', entity: 'TSLA' })
      .expect(401);
    const bad = await request(t.server)
      .post('/api/cache/flush')
      .set(admin)
      .send({ keyType: 'everything' })
      .expect(400);
    expect(bad.body).toMatchObject({ statusCode: 400, field: 'keyType' });
    expect(bad.body.message).toMatch(/^keyType /);
    const extra = await request(t.server)
      .post('/api/cache/flush')
      .set(admin)
      .send({ keyType: 'news_data', pattern: '*' })
      .expect(400);
    expect(extra.body).toMatchObject({ field: 'pattern' });

    const ok = await request(t.server)
      .post('/api/cache/flush')
      .set(admin)
      .send({ keyType: CacheKeyType.NEWS_DATA, entity: 'TSLA' })
      .expect(200);
    expect(ok.body).toEqual({ deleted: 2 });
    expect(await manager.getNewsData('GOOG', 'earnings')).toEqual([3]);
    expect(await manager.getStockPrice('TSLA')).toEqual({ price: 250 });
  });

  it('keeps /api/cache/stats open and free of secrets', async () => {
    const r = await request(t.server).get('/api/cache/stats').expect(200);
    expect(r.body).toMatchObject({ store: { kind: 'redis' }, health: { status: 'up' } });
    expect(JSON.stringify(r.body)).not.toContain('127.0.0.1');
    expect(JSON.stringify(r.body)).not.toContain(ADMIN_KEY);
  });

  it('serves /metrics without quota or auth', async () => {
    const r = await request(t.server).get('/metrics').expect(200);
    expect(invalidExpositionLines(r.text)).toEqual([]);
    expect(r.text).toContain('market_cache_hits_total');
  });

  it('answers 401 on admin routes when no admin key is configured', async () => {
    const open = await startApp(
      testAppConfig({ REDIS_URL: testRedis().url, CACHE_KEY_PREFIX: uniquePrefix('noadm') }),
    );
    try {
      await request(open.server).delete('/api/cache/stocks/AAPL').expect(401);
      await request(open.server)
        .delete('/api/cache/stocks/AAPL')
        .set('X-Admin-Key', '')
        .expect(401);
    } finally {
      await open.close();
    }
  });
});

describe('toHttpError (exception filter mapping)', () => {
  it('maps library, domain and HTTP errors to statuses without leaking internals', () => {
    expect(toHttpError(new CacheValidationError('ticker', 'ticker is bad'))).toMatchObject({
      status: 400,
      body: { statusCode: 400, field: 'ticker', message: 'ticker is bad' },
    });
    expect(toHttpError(new FactoryTimeoutError('k', 100)).status).toBe(504);
    expect(
      toHttpError(new FactoryError('k', new Error('db password=hunter2 at 10.0.0.1'))),
    ).toEqual({ status: 503, body: expect.objectContaining({ statusCode: 503 }) });
    expect(
      JSON.stringify(toHttpError(new FactoryError('k', new Error('db password=hunter2')))),
    ).not.toContain('hunter2');
    expect(toHttpError(new FactoryError('k', MarketDataError.unknownTicker('ZZZZ'))).status).toBe(
      404,
    );
    expect(toHttpError(new FactoryError('k', new NotFoundException('nope'))).status).toBe(404);
    expect(toHttpError(MarketDataError.invalidArgument('from', 'must be before to'))).toMatchObject(
      { status: 400, body: { field: 'from' } },
    );
    expect(toHttpError(new MarketDataError('NOT_FOUND', 'no bars')).status).toBe(404);
    expect(
      toHttpError(new MarketDataError('SOURCE_UNAVAILABLE', 'pg down at 10.0.0.1')).body.message,
    ).not.toContain('10.0.0.1');
    expect(toHttpError(new MarketDataError('SOURCE_TIMEOUT', 'slow')).status).toBe(504);
    expect(toHttpError(new HttpException({ statusCode: 418, message: 'teapot' }, 418))).toEqual({
      status: 418,
      body: { statusCode: 418, message: 'teapot' },
    });
    expect(toHttpError(new TypeError('x is undefined'))).toEqual({
      status: 500,
      body: { statusCode: 500, error: 'Internal Server Error', message: 'Internal server error' },
    });
  });
});
