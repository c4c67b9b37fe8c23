/**
 * Issue 12, bounded growth: every key the app writes to Redis has a TTL, so a `volatile-*`
 * eviction policy can reclaim all of them and nothing outlives its purpose. A representative run
 * of the whole app on a Redis of its own (every route; anonymous and keyed requests, so quota and
 * throttle counters; a user session; cold requests in flight, so locks; admin invalidation and a
 * flush), then a SCAN of the whole server: PTTL > 0 for every key. Lock keys live only while a
 * factory runs: they are sampled while cold requests are in flight.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';
import { loadAppConfig } from '../../config/app-config.js';
import { EDGE_CONFIG_DEFAULTS } from '../../config/edge-config.js';
import { AppModule } from '../../src/app.module.js';
import { SessionService } from '../../src/cache/index.js';
import { configureApp } from '../../src/configure-app.js';
import { RedisServerProcess } from '../harness/redis-server.js';
import { postTrades } from './market-e2e-support.js';

const PREFIX = 'ttl';
const ADMIN_KEY = 'ttl-admin-key';
/** Slow source answers keep cold requests (and their locks) in flight long enough to be seen. */
const SOURCE_LATENCY_MS = 400;

/** Every key of the server with its PTTL (ms; -1: no TTL). Keys gone between SCAN and PTTL are left out. */
async function everyKeyTtl(redis: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const pttl = await redis.pttl(key);
      if (pttl !== -2) out.set(key, pttl);
    }
  } while (cursor !== '0');
  return out;
}

/** What a key is, for the coverage check: its type segment, or `!lock`, `!nsv`, … for internal keys; throttle counters apart. */
function kindOf(key: string): string {
  const parts = key.split(':');
  if (parts[1]?.startsWith('!')) return parts[1];
  if (parts[1] === 'api_quota' && parts[3] === 'throttle') return 'api_quota:throttle';
  return parts[1] ?? key;
}

describe('every key the app writes to Redis has a TTL', () => {
  let server: RedisServerProcess;
  let redis: Redis;
  let app: INestApplication;

  beforeAll(async () => {
    server = await RedisServerProcess.start();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    const config = loadAppConfig({
      REDIS_URL: server.url,
      CACHE_KEY_PREFIX: PREFIX,
      ADMIN_API_KEY: ADMIN_KEY,
      SYNTHETIC_LATENCY_MS: String(SOURCE_LATENCY_MS),
    });
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forConfig(config, EDGE_CONFIG_DEFAULTS)],
    }).compile();
    app = moduleRef.createNestApplication({ logger: ['error'] });
    configureApp(app);
    await app.init();
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
    await server?.stop();
  });

  it('price, financials, news, analysis, bars, trades, quota, throttle, sessions, locks: PTTL > 0 for every key', async () => {
    const http = () => request(app.getHttpServer());
    const locks = new Map<string, number>();
    // Cold requests of every route at once; while they wait on the source, their locks exist.
    const cold = Promise.all([
      http().get('/api/stocks/AAPL/price'),
      http().get('/api/stocks/AAPL/financials?period=quarterly&quarter=Q3'),
      http().get('/api/stocks/AAPL/news?category=earnings'),
      http().get('/api/stocks/AAPL/analysis?type=short_term'),
      http().get('/api/stocks/AAPL/bars?from=2024-01-01&to=2024-03-31'),
      postTrades(app, {
        filters: { tickers: ['AAPL', 'MSFT'] },
        from: '2024-02-01',
        to: '2024-02-29',
      }),
      // Keyed: a quota counter, and the answer cached for that identity.
      http().get('/api/stocks/MSFT/price').set('X-API-Key', 'ttl-test-key'),
    ]);
    let settled = false;
    void cold.finally(() => (settled = true));
    while (!settled) {
      for (const [key, pttl] of await everyKeyTtl(redis))
        if (kindOf(key) === '!lock') locks.set(key, pttl);
      await new Promise((r) => setTimeout(r, 25));
    }
    const answers = await cold;
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200, 200]);

    // A user session, through the library's service as an app would use it.
    await app.get(SessionService).cacheUserSession('user123', { theme: 'dark' });
    const afterRun = await everyKeyTtl(redis);
    // Admin invalidation and a flush, then the flushed data again.
    await http().delete('/api/cache/stocks/AAPL').set('X-Admin-Key', ADMIN_KEY).expect(200);
    await http()
      .post('/api/cache/flush')
      .set('X-Admin-Key', ADMIN_KEY)
      .send({ keyType: 'news_data' })
      .expect((res) => expect(res.status).toBeLessThan(300));
    await http().get('/api/stocks/AAPL/price').expect(200);
    await http().get('/api/stocks/AAPL/news?category=earnings').expect(200);

    const keys = await everyKeyTtl(redis);
    for (const snapshot of [afterRun, keys])
      expect([...snapshot].filter(([, pttl]) => pttl <= 0)).toEqual([]);
    // Locks were seen while the cold requests ran, each with a TTL.
    expect(locks.size).toBeGreaterThan(0);
    expect([...locks].filter(([, pttl]) => pttl <= 0)).toEqual([]);
    // The run wrote every kind of key it stands for.
    const kinds = new Set([...afterRun.keys(), ...keys.keys()].map(kindOf));
    for (const kind of [
      'stock_price',
      'financial_data',
      'news_data',
      'ai_analysis',
      'price_bars',
      'market_data',
      'api_quota',
      'api_quota:throttle',
      'user_session',
    ])
      expect([kind, kinds.has(kind)]).toEqual([kind, true]);
    console.log(
      `ttl everywhere: ${afterRun.size} keys after the run, ${keys.size} after invalidation (${[...kinds].sort().join(', ')}), ${locks.size} locks seen, none without a TTL`,
    );
  }, 60_000);
});
