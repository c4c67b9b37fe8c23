/**
 * Write refusals are health (issue 11): a Redis at `maxmemory` under `noeviction` refuses writes
 * with OOM; the store counts them apart, reports `degraded` with reason `redis_rejecting_writes`
 * (describe(), getStats(), the CacheHealthReport), keeps its breaker closed and keeps serving
 * reads. Also: describe() answers from memory while Redis is frozen (SIGSTOP).
 */
import { jest } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheHealthReport } from '../../src/cache/cache-health.report.js';
import type { CacheService } from '../../src/cache/cache.service.js';
import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { RedisServerProcess, redisCommand } from '../harness/redis-server.js';

jest.setTimeout(60_000);

let server: RedisServerProcess;
const caches: RedisCache[] = [];

beforeAll(async () => {
  server = await RedisServerProcess.start();
});

afterEach(async () => {
  server.resume();
  await redisCommand(server.port, 'CONFIG', 'SET', 'maxmemory', '0');
  await Promise.all(caches.splice(0).map((c) => c.disconnect()));
});

afterAll(async () => {
  await server?.stop();
});

/** A connected store on the private server; the background probe off unless asked (tests drive it). */
async function store(probe: { intervalMs?: number; infoEvery?: number } = {}): Promise<RedisCache> {
  const cache = new RedisCache({
    url: server.url,
    commandTimeoutMs: 250,
    probe: { intervalMs: 0, ...probe },
  });
  caches.push(cache);
  await cache.connect();
  return cache;
}

/** The CacheHealthReport over `cache` alone (nothing but the store's description matters here). */
function reportOver(cache: RedisCache): CacheHealthReport {
  const service = {
    counterEntries: () => [],
    l1Usage: () => ({ entries: 0, bytes: 0 }),
    describeStore: () => cache.describe(),
    busConnected: true,
  };
  return new CacheHealthReport(service as unknown as CacheService, { l1MaxBytes: 1 });
}

it('maxmemory + noeviction: writes refused are counted apart, health degraded with redis_rejecting_writes, reads still served', async () => {
  const cache = await store();
  expect(await cache.set('wr:kept', 'old', 60_000)).toBe(true);
  await cache.getHealth(); // runs a probe round
  expect(cache.describe().status).toBe('up');
  expect(reportOver(cache).snapshot().status).toBe('up');

  await redisCommand(server.port, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
  await redisCommand(server.port, 'CONFIG', 'SET', 'maxmemory', '1');
  for (let i = 0; i < 20; i++) expect(await cache.set(`wr:new:${i}`, 'x', 60_000)).toBe(false);
  expect(await cache.increment('wr:counter', 60_000)).toBeUndefined();
  expect(await cache.acquireLock('wr:lock', 't', 60_000)).toBe('unavailable');

  const stats = cache.getStats();
  expect(stats.writeRefusals).toBe(22);
  expect(stats.rejectingWrites).toBe(true);
  // Redis answered: refusals never open the breaker, so reads are not short-circuited.
  expect(stats.breaker).toBe('closed');
  expect(await cache.get('wr:kept')).toBe('old');
  expect(cache.getStats().shortCircuited).toBe(0);

  const d = cache.describe();
  expect(d.status).toBe('degraded');
  expect(d.rejectingWrites).toBe(true);
  expect(d.reasons).toContain('redis_rejecting_writes');
  const snapshot = reportOver(cache).snapshot();
  expect(snapshot.status).toBe('degraded');
  expect(snapshot.reasons).toContain('redis_rejecting_writes');
  const health = await cache.getHealth();
  expect(health.status).toBe('up');
  expect(health.rejectingWrites).toBe(true);

  // Memory back: the next accepted write clears the state.
  await redisCommand(server.port, 'CONFIG', 'SET', 'maxmemory', '0');
  expect(await cache.set('wr:after', 'y', 60_000)).toBe(true);
  expect(cache.describe().rejectingWrites).toBe(false);
  expect(cache.describe().status).toBe('up');
});

it('the probe sees a full maxmemory under noeviction before any write fails', async () => {
  const cache = await store({ infoEvery: 1 });
  await redisCommand(server.port, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
  await redisCommand(server.port, 'CONFIG', 'SET', 'maxmemory', '1');
  await cache.getHealth(); // runs a probe round
  expect(cache.getStats().writeRefusals).toBe(0);
  expect(cache.describe().reasons).toContain('redis_rejecting_writes');
  await redisCommand(server.port, 'CONFIG', 'SET', 'maxmemory', '0');
  await cache.getHealth(); // runs a probe round
  expect(cache.describe().rejectingWrites).toBe(false);
});

it('describe() answers from memory while Redis is frozen; the background probe marks it down and back up', async () => {
  const cache = await store({ intervalMs: 200 });
  await sleep(300);
  expect(cache.describe().status).toBe('up');
  expect(cache.describe().probedAt).toBeDefined();
  server.pause();
  let maxMs = 0;
  const deadline = Date.now() + 10_000;
  let status = cache.describe().status;
  while (status !== 'down' && Date.now() < deadline) {
    const t0 = performance.now();
    status = cache.describe().status;
    maxMs = Math.max(maxMs, performance.now() - t0);
    await sleep(20);
  }
  expect(status).toBe('down');
  expect(cache.describe().reasons).toContain('redis_ping_failed');
  expect(maxMs).toBeLessThan(250);
  server.resume();
  const back = Date.now() + 10_000;
  while (cache.describe().status !== 'up' && Date.now() < back) await sleep(50);
  expect(cache.describe().status).toBe('up');
});
