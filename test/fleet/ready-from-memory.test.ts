/**
 * Readiness and liveness from memory, as a process: with the app's Redis frozen (SIGSTOP) and the
 * app under load, `/health/ready` and `/health/live` still answer at once (they send no Redis
 * command), while `/health/detailed` may wait for its bounded live probe.
 */
import * as http from 'node:http';
import { RedisServerProcess, TEST_HOST } from '../harness/redis-server.js';
import { startAppProcess, type AppProcess } from './support/app-process.js';
import { startLoad } from './support/load.js';

/**
 * A route that sends a Redis command while Redis is frozen waits at least the command timeout
 * (250 ms by default). The bound sits at half of it: far enough from a loaded machine's scheduling
 * noise to never flake, and still failing at once if readiness waits on Redis. The p99 itself
 * (under 20 ms on a quiet machine) is printed for the record.
 */
const COMMAND_TIMEOUT_MS = 250;
const READY_P99_MS = COMMAND_TIMEOUT_MS / 2;
const PROBES = 100;

function timedGet(agent: http.Agent, port: number, path: string): Promise<[number, number]> {
  const start = performance.now();
  return new Promise((done, fail) => {
    const req = http.get({ host: TEST_HOST, port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => done([res.statusCode ?? 0, performance.now() - start]));
    });
    req.on('error', fail);
  });
}

describe('readiness from memory (real process, real Redis frozen)', () => {
  let redis: RedisServerProcess | undefined;
  let app: AppProcess | undefined;

  afterAll(async () => {
    redis?.resume();
    await app?.stop();
    await redis?.stop();
  });

  it(`answers /health/ready and /health/live without waiting on a frozen Redis (p99 < ${READY_P99_MS} ms, half the command timeout) under load`, async () => {
    redis = await RedisServerProcess.start();
    app = await startAppProcess({
      CACHE_DRIVER: 'redis',
      REDIS_URL: redis.url,
      CACHE_KEY_PREFIX: `ready${process.pid}`,
    });
    const load = startLoad({
      port: app.port,
      paths: ['AAPL', 'MSFT'].map((t) => `/api/stocks/${t}/price`),
      concurrency: 2,
      maxRequests: 2000,
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await new Promise((r) => setTimeout(r, 300));
      redis.pause();
      for (const path of ['/health/ready', '/health/live']) {
        const latencies: number[] = [];
        for (let i = 0; i < PROBES; i++) {
          const [status, ms] = await timedGet(agent, app.port, path);
          expect(status).toBe(200);
          latencies.push(ms);
        }
        latencies.sort((x, y) => x - y);
        const p99 = latencies[Math.ceil(PROBES * 0.99) - 1]!;
        process.stdout.write(`${path} with Redis frozen: p99 ${p99.toFixed(1)} ms\n`);
        expect({ path, p99: p99 < READY_P99_MS ? 'fast' : p99 }).toEqual({ path, p99: 'fast' });
      }
    } finally {
      redis.resume();
      agent.destroy();
      await load.stop();
    }
  }, 120_000);
});
