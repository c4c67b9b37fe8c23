/**
 * Issue 12, anonymous throttle as a fleet: two app instances (real processes) on one Redis. A
 * bounded burst of anonymous requests from one address (loopback), spread over both instances,
 * is admitted exactly HTTP_THROTTLE_LIMIT times in total: the count is shared, not per instance.
 * Every refusal is a 429 with `Retry-After`; health and metrics stay open to the same address.
 */
import * as http from 'node:http';
import { Redis } from 'ioredis';
import { TEST_HOST } from '../harness/redis-server.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix } from '../support/cache-context.js';
import { startAppProcess, statusOf, type AppProcess } from './support/app-process.js';

const LIMIT = 100;
const WINDOW_MS = 60_000;
const REQUESTS = 1000;
/** Concurrent clients per instance; each sends its share one request after another, paced. */
const CLIENTS_PER_INSTANCE = 10;
/** Pause between two requests of one client, in ms: about 1 s for the whole burst. */
const PAUSE_MS = 4;

interface Answer {
  port: number;
  status: number;
  retryAfter?: string;
  remaining?: string;
}

function get(agent: http.Agent, port: number, path: string): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = http.get({ host: TEST_HOST, port, path, agent }, (res) => {
      res.resume();
      res.on('end', () =>
        done({
          port,
          status: res.statusCode ?? 0,
          retryAfter: res.headers['retry-after'],
          remaining: res.headers['x-ratelimit-remaining'] as string | undefined,
        }),
      );
    });
    req.on('error', fail);
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
  });
}

/** `count` GETs of `path` on `port` from `clients` keep-alive clients, each pausing `pauseMs` between requests. */
async function burst(
  port: number,
  path: string,
  count: number,
  clients: number,
): Promise<Answer[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const out: Answer[] = [];
  let sent = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (sent < count) {
        sent++;
        out.push(await get(agent, port, path));
        await new Promise((r) => setTimeout(r, PAUSE_MS));
      }
    }),
  );
  agent.destroy();
  return out;
}

describe('anonymous throttle across two instances on one Redis (real processes)', () => {
  let a: AppProcess | undefined;
  let b: AppProcess | undefined;
  let redis: Redis | undefined;

  afterAll(async () => {
    redis?.disconnect();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it(`${REQUESTS} anonymous requests in about 1 s from one address: exactly ${LIMIT} admitted over both instances, the rest 429 with Retry-After`, async () => {
    const prefix = uniquePrefix('thrf');
    const env = {
      CACHE_DRIVER: 'redis',
      REDIS_URL: testRedis().url,
      CACHE_KEY_PREFIX: prefix,
      HTTP_THROTTLE_LIMIT: String(LIMIT),
      HTTP_THROTTLE_WINDOW_MS: String(WINDOW_MS),
    };
    [a, b] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
    const t0 = performance.now();
    const answers = (
      await Promise.all([
        burst(a.port, '/api/stocks/AAPL/price', REQUESTS / 2, CLIENTS_PER_INSTANCE),
        burst(b.port, '/api/stocks/AAPL/price', REQUESTS / 2, CLIENTS_PER_INSTANCE),
      ])
    ).flat();
    const elapsedMs = performance.now() - t0;
    console.log(`throttle fleet: ${answers.length} requests in ${Math.round(elapsedMs)} ms`);

    expect(answers).toHaveLength(REQUESTS);
    const admitted = answers.filter((x) => x.status === 200);
    const refused = answers.filter((x) => x.status === 429);
    expect(answers.filter((x) => x.status !== 200 && x.status !== 429)).toEqual([]);
    // One count for both instances: per-instance counting would admit up to 2 × LIMIT.
    expect(admitted).toHaveLength(LIMIT);
    expect(refused).toHaveLength(REQUESTS - LIMIT);
    // Each count from 1 to LIMIT was given out once, on one instance or the other.
    expect(admitted.map((x) => Number(x.remaining)).sort((p, q) => p - q)).toEqual(
      Array.from({ length: LIMIT }, (_, i) => i),
    );
    for (const port of [a.port, b.port]) {
      expect(admitted.filter((x) => x.port === port).length).toBeGreaterThan(0);
      expect(refused.filter((x) => x.port === port).length).toBeGreaterThan(0);
    }
    for (const x of refused) {
      expect(x.retryAfter).toMatch(/^\d+$/);
      expect(Number(x.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(x.retryAfter)).toBeLessThanOrEqual(WINDOW_MS / 1000);
    }
    // Probes and scrapes of the same address are never throttled.
    for (const port of [a.port, b.port]) {
      expect(await statusOf(port, '/health/live')).toBe(200);
      expect(await statusOf(port, '/health/ready')).toBe(200);
      expect(await statusOf(port, '/metrics')).toBe(200);
    }
    // One counter in Redis for the address, holding every counted request, with the window's TTL.
    redis = new Redis(testRedis().url, { maxRetriesPerRequest: 1 });
    const key = `${prefix}:api_quota:127.0.0.1:throttle:anonymous`;
    expect(Number(await redis.get(key))).toBe(REQUESTS);
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(WINDOW_MS);
  }, 120_000);
});
