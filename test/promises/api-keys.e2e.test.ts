/**
 * Promises of the quota edge, through HTTP on the whole app:
 * - API keys (and other credentials) reach Redis only as hashes: no key, value, or command
 *   argument sent to the Redis this test starts ever carries the secret text;
 * - the quota applies to `/api/**` however the path is cased (Express routes case-insensitively).
 */
import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import request from 'supertest';
import { RedisServerProcess } from '../harness/redis-server.js';
import { uniquePrefix } from '../support/cache-context.js';
import { startApp, testAppConfig, type TestApp } from '../e2e/support/app-harness.js';
import { AppCachedRouteModule } from '../e2e/support/http-cache.fixture.js';
import { REAL_EXCEPT_DATE } from '../support/fake-time.js';

/** Every key in the server with its content as text (strings, hashes, lists, sets, sorted sets). */
async function dump(redis: Redis): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let content: unknown;
      if (type === 'string') content = await redis.get(key);
      else if (type === 'hash') content = await redis.hgetall(key);
      else if (type === 'list') content = await redis.lrange(key, 0, -1);
      else if (type === 'set') content = await redis.smembers(key);
      else if (type === 'zset') content = await redis.zrange(key, 0, -1, 'WITHSCORES');
      else content = `<${type}>`;
      out.set(key, JSON.stringify(content));
    }
  } while (cursor !== '0');
  return out;
}

// The quota window is the UTC day: a fixed instant mid-day keeps every request of a test in one
// window (and bars in closed days).
// Only `Date` is faked; timers, I/O and Redis keep real time.
const realTimers = REAL_EXCEPT_DATE;
beforeEach(() => {
  jest.useFakeTimers({ doNotFake: [...realTimers] });
  jest.setSystemTime(new Date('2024-03-15T12:00:00Z'));
});
afterEach(() => jest.useRealTimers());

describe('API keys reach Redis only as hashes', () => {
  const API_KEY = 'ak-live-Secret-7f3a9c21';
  const BEARER = 'bearer-Token-5e8d1b07';
  const ADMIN_KEY = 'admin-Secret-0c4f2e99';
  const SECRETS = [API_KEY, BEARER, ADMIN_KEY];
  let server: RedisServerProcess;
  let t: TestApp;
  let monitor: Redis;
  let inspect: Redis;
  const commands: string[][] = [];

  beforeAll(async () => {
    server = await RedisServerProcess.start();
    inspect = new Redis(server.url);
    monitor = await inspect.monitor(); // a connection of its own, in MONITOR mode
    monitor.on('monitor', (_time: string, args: string[]) => commands.push(args.map(String)));
    t = await startApp(
      testAppConfig({
        REDIS_URL: server.url,
        CACHE_KEY_PREFIX: uniquePrefix('keys'),
        API_DAILY_QUOTA: '50',
        ADMIN_API_KEY: ADMIN_KEY,
      }),
      [AppCachedRouteModule],
    );
  });
  afterAll(async () => {
    await t?.close();
    monitor?.disconnect();
    inspect?.disconnect();
    await server?.stop();
  });

  it('counts and caches per key without the key text in any Redis key, value or command', async () => {
    const withKey = (r: request.Test) => r.set('X-API-Key', API_KEY);
    const first = await withKey(request(t.server).get('/api/fixture/quote/AMD')).expect(200);
    expect(first.headers['x-ratelimit-remaining']).toBe('49');
    const again = await withKey(request(t.server).get('/api/fixture/quote/AMD')).expect(200);
    expect(again.headers['x-cache']).toBe('HIT'); // cached per identity: a key for it exists
    await withKey(request(t.server).get('/api/stocks/AAPL/price')).expect(200);
    await withKey(
      request(t.server).get('/api/stocks/AAPL/bars?from=2024-01-02&to=2024-01-12'),
    ).expect(200);
    await withKey(
      request(t.server)
        .post('/api/trades/query')
        .send({ filters: { tickers: ['AAPL'] }, from: '2024-01-02', to: '2024-01-05' }),
    ).expect(200);
    const last = await withKey(request(t.server).get('/api/cache/stats')).expect(200);
    expect(last.headers['x-ratelimit-remaining']).toBe('44'); // six requests counted
    // Other credentials: a bearer token on a cached route, and the admin key on an admin route.
    await request(t.server)
      .get('/api/fixture/quote/AMD')
      .set('Authorization', `Bearer ${BEARER}`)
      .expect(200);
    const bearerAgain = await request(t.server)
      .get('/api/fixture/quote/AMD')
      .set('Authorization', `Bearer ${BEARER}`)
      .expect(200);
    expect(bearerAgain.headers['x-cache']).toBe('HIT');
    await request(t.server)
      .delete('/api/cache/stocks/MSFT')
      .set('X-Admin-Key', ADMIN_KEY)
      .expect(200);
    await inspect.ping(); // MONITOR sees commands in order: everything before this PING was seen
    expect(commands.some((c) => c[0]?.toLowerCase() === 'ping')).toBe(true);

    const stored = await dump(inspect);
    const keys = [...stored.keys()];
    expect(keys.some((k) => k.includes('api_quota'))).toBe(true);
    expect(keys.filter((k) => k.includes(':http:')).length).toBeGreaterThanOrEqual(2);
    expect(commands.length).toBeGreaterThan(10);
    for (const secret of SECRETS) {
      const needle = secret.toLowerCase();
      expect(keys.filter((k) => k.toLowerCase().includes(needle))).toEqual([]);
      expect(
        [...stored].filter(([, v]) => v.toLowerCase().includes(needle)).map(([k]) => k),
      ).toEqual([]);
      expect(commands.filter((c) => c.some((arg) => arg.toLowerCase().includes(needle)))).toEqual(
        [],
      );
    }
  });
});

describe('the quota on /api/** whatever the case of the path', () => {
  let server: RedisServerProcess;
  let t: TestApp;

  beforeAll(async () => {
    server = await RedisServerProcess.start();
    t = await startApp(
      testAppConfig({
        REDIS_URL: server.url,
        CACHE_KEY_PREFIX: uniquePrefix('case'),
        API_DAILY_QUOTA: '2',
      }),
    );
  });
  afterAll(async () => {
    await t?.close();
    await server?.stop();
  });

  it('refuses a key at its limit on /API/... and /Api/... as on /api/...', async () => {
    const key = 'case-key-at-limit';
    for (const remaining of ['1', '0']) {
      const r = await request(t.server).get('/api/cache/stats').set('X-API-Key', key).expect(200);
      expect(r.headers['x-ratelimit-remaining']).toBe(remaining);
    }
    for (const path of ['/API/cache/stats', '/Api/Cache/Stats', '/API/stocks/AAPL/price']) {
      const r = await request(t.server).get(path).set('X-API-Key', key);
      expect({ path, status: r.status }).toEqual({ path, status: 429 });
      expect(r.headers['x-ratelimit-limit']).toBe('2');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
  });

  it('counts a differently-cased path against the same key', async () => {
    const key = 'case-key-fresh';
    const upper = await request(t.server)
      .get('/API/stocks/AAPL/price')
      .set('X-API-Key', key)
      .expect(200);
    expect(upper.headers['x-ratelimit-limit']).toBe('2');
    expect(upper.headers['x-ratelimit-remaining']).toBe('1');
    const mixed = await request(t.server).get('/aPi/cache/stats').set('X-API-Key', key).expect(200);
    expect(mixed.headers['x-ratelimit-remaining']).toBe('0');
    await request(t.server).get('/api/cache/stats').set('X-API-Key', key).expect(429);
  });
});
