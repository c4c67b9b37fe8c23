import { Redis } from 'ioredis';
import request from 'supertest';
import { CacheService } from '../../src/cache/cache.service.js';
import { MarketCacheLifecycle } from '../../src/cache/market-cache.module.js';
import { TieredCache } from '../../src/cache/tiered/tiered-cache.js';
import { RedisServerProcess } from '../harness/redis-server.js';
import { uniquePrefix, waitFor } from '../support/cache-context.js';
import { startApp, testAppConfig, type TestApp } from './support/app-harness.js';

/** The `services.redis` fields `/health/detailed` promises (DESIGN §4). */
const REDIS_FIELDS = [
  'status',
  'connected',
  'hit_rate_percent',
  'memory_usage',
  'total_commands',
  'uptime_seconds',
  'connected_clients',
];

describe('health routes against a Redis this test starts, stops and restarts', () => {
  let server: RedisServerProcess;
  let app: TestApp;
  let strict: TestApp;

  beforeAll(async () => {
    server = await RedisServerProcess.start();
    const cache = { commandTimeoutMs: 200 };
    app = await startApp(
      testAppConfig({ REDIS_URL: server.url, CACHE_KEY_PREFIX: uniquePrefix('hl') }, cache),
    );
    strict = await startApp(
      testAppConfig(
        { REDIS_URL: server.url, CACHE_KEY_PREFIX: uniquePrefix('hr') },
        { ...cache, redisRequired: true },
      ),
    );
  });
  afterAll(async () => {
    await app?.close();
    await strict?.close();
    await server?.stop();
  });

  it('reports everything up, with real Redis figures that move with hits and misses', async () => {
    await request(app.server)
      .get('/health/live')
      .expect(200)
      .expect((r) =>
        expect(r.body).toMatchObject({ status: 'ok', details: { event_loop: { status: 'up' } } }),
      );
    const ready = await request(app.server).get('/health/ready').expect(200);
    expect(ready.body).toMatchObject({
      status: 'ok',
      details: {
        redis: { status: 'up', connected: true, mode: 'standalone' },
        cache: { status: 'up' },
      },
    });

    // Redis's own uptime, read directly around the request (once it is at least 1 s, so that a
    // reported constant 0 cannot pass).
    const admin = new Redis(server.url);
    const redisUptime = async () =>
      Number(/uptime_in_seconds:(\d+)/.exec(await admin.info('server'))?.[1]);
    let uptimeBefore = 0;
    let uptimeAfter = 0;
    let d0: { status: string; services: { redis: Record<string, unknown>; cache: unknown } };
    try {
      await waitFor(async () => (await redisUptime()) >= 1, 5000);
      uptimeBefore = await redisUptime();
      d0 = (await request(app.server).get('/health/detailed').expect(200)).body;
      uptimeAfter = await redisUptime();
    } finally {
      admin.disconnect();
    }
    expect(d0.status).toBe('ok');
    for (const f of REDIS_FIELDS) expect(d0.services.redis).toHaveProperty(f);
    expect(d0.services.redis).toMatchObject({ status: 'up', connected: true });
    expect(typeof d0.services.redis.hit_rate_percent).toBe('number');
    expect(d0.services.redis.memory_usage).toMatch(/^\d+(\.\d+)?[BKMGT]$/);
    expect(d0.services.redis.total_commands).toBeGreaterThan(0);
    expect(d0.services.redis.uptime_seconds).toBeGreaterThanOrEqual(uptimeBefore);
    expect(d0.services.redis.uptime_seconds).toBeLessThanOrEqual(uptimeAfter);
    expect(d0.services.redis.connected_clients).toBeGreaterThanOrEqual(1);
    expect(d0.services.cache).toMatchObject({ status: 'up', driver: 'redis' });
    expect(JSON.stringify(d0)).not.toContain('127.0.0.1');

    // Misses, then hits, read from Redis (L1 cleared before each read): both hit rates move.
    const cache = app.app.get(CacheService);
    const tiered = app.app.get(TieredCache);
    for (let i = 0; i < 20; i++) await cache.getOrSet(`market_data:health-miss-${i}`, () => i);
    const d1 = (await request(app.server).get('/health/detailed').expect(200)).body;
    await tiered.drain();
    for (let i = 0; i < 40; i++) {
      tiered.l1.clear();
      expect(await cache.getOrSet(`market_data:health-miss-${i % 20}`, () => -1)).toBe(i % 20);
    }
    const d2 = (await request(app.server).get('/health/detailed').expect(200)).body;
    expect(d2.services.redis.hit_rate_percent).toBeGreaterThan(d1.services.redis.hit_rate_percent);
    expect(d2.services.cache.l2_hit_rate_percent).toBeGreaterThan(
      d1.services.cache.l2_hit_rate_percent,
    );
    expect(d2.services.redis.total_commands).toBeGreaterThan(d1.services.redis.total_commands);
  });

  it('stays live and ready (degraded) while Redis is down, fails open on quota, and recovers once Redis is restarted', async () => {
    await server.kill();

    await request(app.server).get('/health/live').expect(200);
    const ready = await request(app.server).get('/health/ready').expect(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.details.redis).toMatchObject({ status: 'down', connected: false });
    expect(ready.body.error.redis.status).toBe('down');
    const detailed = (await request(app.server).get('/health/detailed').expect(200)).body;
    expect(detailed.status).toBe('degraded');
    expect(detailed.services.redis).toMatchObject({ status: 'down', connected: false });
    // With redisRequired, readiness fails instead.
    const strictReady = await request(strict.server).get('/health/ready').expect(503);
    expect(strictReady.body).toMatchObject({
      status: 'error',
      details: { redis: { status: 'down' } },
    });
    // The quota fails open on the per-instance counter: never a 500.
    const counted = await request(app.server)
      .get('/api/cache/stats')
      .set('X-API-Key', 'while-down')
      .expect(200);
    expect(counted.headers['x-ratelimit-remaining']).toMatch(/^\d+$/);

    await server.restart();
    // A real server must come back and be reconnected to: polled, with a generous deadline.
    await waitFor(async () => {
      const [r, d, s] = await Promise.all([
        request(app.server).get('/health/ready'),
        request(app.server).get('/health/detailed'),
        request(strict.server).get('/health/ready'),
      ]);
      return (
        r.status === 200 &&
        r.body.status === 'ok' &&
        d.body.services.redis.connected === true &&
        s.status === 200
      );
    }, 15_000);
    await request(app.server).get('/health/live').expect(200);
  });

  it('turns readiness to 503 once shutdown begins', async () => {
    strict.app.get(MarketCacheLifecycle).beginShutdown();
    const r = await request(strict.server).get('/health/ready').expect(503);
    expect(r.body.status).toBe('shutting_down');
  });
});

describe('health routes with the memory driver', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp(testAppConfig({ CACHE_DRIVER: 'memory' }));
  });
  afterAll(() => app.close());

  it('reports Redis as not configured, not as down', async () => {
    const ready = await request(app.server).get('/health/ready').expect(200);
    expect(ready.body.status).toBe('ok');
    expect(ready.body.details.redis).toMatchObject({
      status: 'up',
      configured: false,
      mode: 'memory',
    });
    const detailed = (await request(app.server).get('/health/detailed').expect(200)).body;
    expect(detailed.status).toBe('ok');
    expect(detailed.services.redis).toMatchObject({ status: 'not_configured', connected: false });
    expect(detailed.services.cache.driver).toBe('memory');
  });
});
