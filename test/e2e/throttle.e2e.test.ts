/**
 * Issue 12, bounded growth: requests without an API key are throttled per client address
 * (`@nestjs/throttler` on the cache module's counters), through HTTP on the whole app:
 * - past `HTTP_THROTTLE_LIMIT` per window: 429 with `Retry-After`, also for URLs the HTTP cache
 *   fast path answers before guards; `/health/**` and `/metrics` are never counted;
 * - requests with an API key keep the quota guard and are not throttled;
 * - one counter per address in Redis, with a TTL of the window;
 * - `X-Forwarded-For` names the client only when `HTTP_TRUST_PROXY` trusts the hop.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';
import { loadAppConfig } from '../../config/app-config.js';
import { EDGE_CONFIG_DEFAULTS, loadEdgeConfig, type EdgeConfig } from '../../config/edge-config.js';
import { AppModule } from '../../src/app.module.js';
import { configureApp } from '../../src/configure-app.js';
import { clientAddressOf } from '../../src/throttle/client-address.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix } from '../support/cache-context.js';
import { keysUnder } from './market-e2e-support.js';

const LIMIT = 5;
const WINDOW_MS = 60_000;
const PRICE = '/api/stocks/AAPL/price';

interface Started {
  app: INestApplication;
  prefix: string;
  close(): Promise<void>;
}

/** The whole app on the harness Redis (unique prefix) with the edge settings `edge`. */
async function startThrottled(edge: Partial<EdgeConfig>): Promise<Started> {
  const prefix = uniquePrefix('thr');
  const config = loadAppConfig({ REDIS_URL: testRedis().url, CACHE_KEY_PREFIX: prefix });
  const limits: EdgeConfig = { ...EDGE_CONFIG_DEFAULTS, ...edge };
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.forConfig(config, limits)],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  configureApp(app, limits);
  await app.init();
  return { app, prefix, close: () => app.close() };
}

let redis: Redis;
beforeAll(() => {
  redis = new Redis(testRedis().url, { maxRetriesPerRequest: 1 });
});
afterAll(() => redis.disconnect());

describe('anonymous throttle (HTTP_THROTTLE_LIMIT per HTTP_THROTTLE_WINDOW_MS per address)', () => {
  let t: Started;
  beforeAll(async () => {
    t = await startThrottled({ throttleLimit: LIMIT, throttleWindowMs: WINDOW_MS });
  });
  afterAll(() => t.close());

  it('admits LIMIT requests of one address, then answers 429 with Retry-After, also for a URL the cache fast path serves', async () => {
    const server = t.app.getHttpServer();
    const statuses: number[] = [];
    const remaining: string[] = [];
    for (let i = 0; i < LIMIT; i++) {
      const res = await request(server).get(PRICE);
      statuses.push(res.status);
      remaining.push(res.headers['x-ratelimit-remaining']);
      expect(res.headers['x-ratelimit-limit']).toBe(String(LIMIT));
      // The epoch second at which the window ends, as the quota guard writes it.
      const reset = Number(res.headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThan(Date.now() / 1000);
      expect(reset).toBeLessThanOrEqual(Math.ceil((Date.now() + WINDOW_MS) / 1000) + 1);
    }
    expect(statuses).toEqual(Array(LIMIT).fill(200));
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);

    // The URL is cached now (answered from L1 without entering Nest's pipeline): still throttled.
    const refused = await request(server).get(PRICE);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_MS / 1000);
    expect(refused.body).toMatchObject({
      statusCode: 429,
      message: expect.stringContaining(`at most ${LIMIT} per 60 s`),
    });
    // Any other route of the same address, and a POST: refused as well (one counter per address).
    expect((await request(server).get('/api/stocks/MSFT/news')).status).toBe(429);
    expect((await request(server).post('/api/trades/query').send({})).status).toBe(429);
    expect((await request(server).get('/no/such/route')).status).toBe(429);
  });

  it('never counts /health/** and /metrics, in any case', async () => {
    const server = t.app.getHttpServer();
    for (const path of ['/health/live', '/health/ready', '/HEALTH/live', '/metrics']) {
      const res = await request(server).get(path);
      expect([path, res.status]).toEqual([path, 200]);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  it('lets requests with an API key through: they are counted by the quota guard, not the throttle', async () => {
    const server = t.app.getHttpServer();
    const keyed = await request(server).get(PRICE).set('X-API-Key', 'throttle-test-key');
    expect(keyed.status).toBe(200);
    // The quota's own limit (API_DAILY_QUOTA, 1000 by default), not the throttle's.
    expect(keyed.headers['x-ratelimit-limit']).toBe('1000');
    // A key outside /api/** is not counted by the quota guard, so it does not skip the throttle.
    expect((await request(server).get('/no/such/route').set('X-API-Key', 'k')).status).toBe(429);
  });

  it('keeps one counter per address in Redis under the api_quota type, with a TTL of the window', async () => {
    const keys = (await keysUnder(redis, t.prefix)).filter((k) => k.includes(':throttle:'));
    expect(keys).toEqual([`${t.prefix}:api_quota:127.0.0.1:throttle:anonymous`]);
    const pttl = await redis.pttl(keys[0]!);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(WINDOW_MS);
    expect(Number(await redis.get(keys[0]!))).toBeGreaterThan(LIMIT);
  });
});

describe('HTTP_TRUST_PROXY: who the client is behind a balancer', () => {
  it('off (the default): X-Forwarded-For is ignored, so a client cannot reset its budget by inventing addresses', async () => {
    const t = await startThrottled({ throttleLimit: LIMIT, throttleWindowMs: WINDOW_MS });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 3; i++) {
        const res = await request(t.app.getHttpServer())
          .get(PRICE)
          .set('X-Forwarded-For', `203.0.113.${i}`);
        statuses.push(res.status);
      }
      expect(statuses).toEqual([...Array(LIMIT).fill(200), 429, 429, 429]);
    } finally {
      await t.close();
    }
  });

  it('trusting loopback: each forwarded client has its own budget (the address the trusted hop appended), escaped in its key', async () => {
    const t = await startThrottled({
      throttleLimit: LIMIT,
      throttleWindowMs: WINDOW_MS,
      trustProxy: ['loopback'],
    });
    try {
      const server = t.app.getHttpServer();
      const as = (xff: string) => request(server).get(PRICE).set('X-Forwarded-For', xff);
      for (let i = 0; i < LIMIT; i++) expect((await as('198.51.100.7')).status).toBe(200);
      expect((await as('198.51.100.7')).status).toBe(429);
      // A spoofed left-most entry does not help: the balancer (trusted) appended the real one.
      expect((await as('203.0.113.9, 198.51.100.7')).status).toBe(429);
      // Another client behind the same balancer is not affected.
      expect((await as('198.51.100.8')).status).toBe(200);
      // IPv6 clients are counted per /64, the address escaped in the key.
      expect((await as('2001:db8:0:1::5')).status).toBe(200);
      expect((await as('2001:db8:0:1::6')).status).toBe(200);
      const keys = (await keysUnder(redis, t.prefix)).filter((k) => k.includes(':throttle:'));
      expect(keys.sort()).toEqual(
        [
          `${t.prefix}:api_quota:198.51.100.7:throttle:anonymous`,
          `${t.prefix}:api_quota:198.51.100.8:throttle:anonymous`,
          `${t.prefix}:api_quota:2001%3Adb8%3A0%3A1%3A%3A/64:throttle:anonymous`,
        ].sort(),
      );
      expect(
        Number(
          await redis.get(`${t.prefix}:api_quota:2001%3Adb8%3A0%3A1%3A%3A/64:throttle:anonymous`),
        ),
      ).toBe(2);
    } finally {
      await t.close();
    }
  });
});

describe('HTTP_THROTTLE_LIMIT=0', () => {
  it('turns the throttle off: no 429, no counter', async () => {
    const t = await startThrottled({ throttleLimit: 0 });
    try {
      for (let i = 0; i < 20; i++)
        expect((await request(t.app.getHttpServer()).get(PRICE)).status).toBe(200);
      const keys = (await keysUnder(redis, t.prefix)).filter((k) => k.includes(':throttle:'));
      expect(keys).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe('throttle settings and client addresses', () => {
  it('reads HTTP_THROTTLE_LIMIT, HTTP_THROTTLE_WINDOW_MS and HTTP_TRUST_PROXY, refusing bad values by name', () => {
    expect(loadEdgeConfig({})).toMatchObject({
      throttleLimit: 3000,
      throttleWindowMs: 60_000,
      trustProxy: false,
    });
    expect(
      loadEdgeConfig({
        HTTP_THROTTLE_LIMIT: '0',
        HTTP_THROTTLE_WINDOW_MS: '10000',
        HTTP_TRUST_PROXY: 'loopback, 10.0.0.0/8 ,fd00::/8',
      }),
    ).toMatchObject({
      throttleLimit: 0,
      throttleWindowMs: 10_000,
      trustProxy: ['loopback', '10.0.0.0/8', 'fd00::/8'],
    });
    expect(loadEdgeConfig({ HTTP_TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadEdgeConfig({ HTTP_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    for (const [name, value] of [
      ['HTTP_TRUST_PROXY', 'true'],
      ['HTTP_TRUST_PROXY', '10.0.0.0/33'],
      ['HTTP_TRUST_PROXY', 'my-balancer'],
      ['HTTP_THROTTLE_LIMIT', '-1'],
      ['HTTP_THROTTLE_WINDOW_MS', '10'],
    ] as const)
      expect(() => loadEdgeConfig({ [name]: value })).toThrow(
        expect.objectContaining({ field: name }) as Error,
      );
  });

  it('counts a client by its IPv4 address (also IPv4-mapped), ::1, or its IPv6 /64', () => {
    expect(clientAddressOf('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressOf('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressOf('::1')).toBe('::1');
    expect(clientAddressOf('2001:db8:0:1:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(clientAddressOf('2001:DB8:0:1::5%eth0')).toBe('2001:db8:0:1::/64');
    expect(clientAddressOf('fe80::1')).toBe('fe80::/64');
    expect(clientAddressOf('2001:db8::7')).toBe('2001:db8::/64');
    expect(clientAddressOf(undefined)).toBe('unknown');
  });
});
