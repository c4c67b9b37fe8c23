/**
 * Issue 15, nothing lost from quotas (acceptance): two app instances as real processes share a
 * real redis-server; keyed traffic runs before, during and after a stop of a few seconds (SIGKILL,
 * then a restart on the same port that reloads its append-only file, fsync always, so the server
 * itself loses nothing). Every keyed request answered 200 or 429 was counted once — by Redis, or
 * by its instance's fallback while Redis was down — so once both instances have added back what
 * they counted alone, each key's shared daily counter equals, exactly, the requests answered for
 * that key. Before the add-back (issue 15's report) the counters fell short by the outage's
 * requests.
 */
import * as http from 'node:http';
import { Redis } from 'ioredis';
import { quotaIdOf } from '../../src/cache/guards/quota.guard.js';
import { RedisServerProcess, TEST_HOST } from '../harness/redis-server.js';
import { sleep, uniquePrefix, waitFor } from '../support/cache-context.js';
import { startAppProcess, type AppProcess } from './support/app-process.js';

const LIMIT = 150;
const PATH = '/api/stocks/AAPL/price';
const API_KEYS = ['fleet-key-a', 'fleet-key-b', 'fleet-key-c'];
/** Requests per phase (both instances together), and the pause of each client between two. */
const BEFORE = 120;
const DURING = 300;
const AFTER = 150;
const PACE_MS = 40;
/** The least time Redis stays down, in ms ("a few seconds"). */
const OUTAGE_MS = 3000;

/** Status of one keyed GET to `port` over `agent`. */
function keyedStatus(agent: http.Agent, port: number, apiKey: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = http.get(
      { host: TEST_HOST, port, path: PATH, agent, headers: { 'X-API-Key': apiKey } },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
      },
    );
    req.on('error', fail);
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
  });
}

describe('quota counts added back after a Redis outage (two app processes, real redis-server)', () => {
  let server: RedisServerProcess;
  let apps: AppProcess[] = [];
  let inspect: Redis;
  const prefix = uniquePrefix('qa');
  const agents = [0, 1].map(() => new http.Agent({ keepAlive: true, maxSockets: 2 }));
  /** Answers per API key and status. */
  const answered = new Map<string, Map<number, number>>(API_KEYS.map((k) => [k, new Map()]));
  const counterKey = (apiKey: string) => `${prefix}:api_quota:${quotaIdOf(apiKey)}:daily`;
  const sharedCounts = async () =>
    (await inspect.mget(API_KEYS.map(counterKey))).map((v) => Number(v ?? 0));
  /** Requests answered 200 or 429 per key: the requests counted against the quota. */
  const countedRequests = () =>
    API_KEYS.map((k) => (answered.get(k)!.get(200) ?? 0) + (answered.get(k)!.get(429) ?? 0));

  /** `n` keyed requests spread over both instances and the keys, two clients per instance, paced. */
  async function traffic(n: number): Promise<void> {
    let next = 0;
    const client = async (instance: number) => {
      while (next < n) {
        const i = next++;
        const apiKey = API_KEYS[i % API_KEYS.length]!;
        const status = await keyedStatus(agents[instance]!, apps[instance]!.port, apiKey);
        const byStatus = answered.get(apiKey)!;
        byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
        await sleep(PACE_MS);
      }
    };
    await Promise.all([client(0), client(0), client(1), client(1)]);
  }

  beforeAll(async () => {
    server = await RedisServerProcess.start({
      args: ['--appendonly', 'yes', '--appendfsync', 'always'],
    });
    inspect = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    await inspect.connect();
    const env = {
      CACHE_DRIVER: 'redis',
      REDIS_URL: server.url,
      CACHE_KEY_PREFIX: prefix,
      API_DAILY_QUOTA: String(LIMIT),
    };
    apps = await Promise.all([startAppProcess(env), startAppProcess(env)]);
  }, 120_000);

  afterAll(async () => {
    agents.forEach((a) => a.destroy());
    inspect?.disconnect();
    await Promise.all(apps.map((a) => a.stop()));
    await server?.stop();
  }, 60_000);

  it('the shared daily counter of each key equals the requests answered 200 or 429, outage included', async () => {
    // 1. Redis up: every request is counted there.
    await traffic(BEFORE);
    expect(await sharedCounts()).toEqual(countedRequests());
    const beforeOutage = countedRequests();

    // 2. Redis stopped for at least OUTAGE_MS under keyed traffic: each instance counts alone.
    await server.kill();
    const stoppedAt = performance.now();
    inspect.disconnect();
    await traffic(DURING);
    const outageMs = performance.now() - stoppedAt;
    if (outageMs < OUTAGE_MS) await sleep(OUTAGE_MS - outageMs);
    const duringOutage = countedRequests().map((n, i) => n - beforeOutage[i]!);

    // 3. Redis back with what it held (AOF): none of the outage's requests are in it yet.
    await server.restart();
    inspect = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    await inspect.connect();
    expect(await sharedCounts()).toEqual(beforeOutage);

    // 4. Traffic on, then one request per key and instance until both instances count in Redis
    //    again and have added back what they owe: every request sent is in `answered`.
    await traffic(AFTER);
    await waitFor(async () => {
      await traffic(API_KEYS.length * 2);
      const [shared, expected] = [await sharedCounts(), countedRequests()];
      return shared.every((n, i) => n === expected[i]);
    }, 30_000);
    // Nothing is added twice: a second later (no traffic) the counters have not moved.
    await sleep(1000);
    const shared = await sharedCounts();
    const expected = countedRequests();
    console.log(
      `quota add-back: outage ${(Math.max(outageMs, OUTAGE_MS) / 1000).toFixed(1)} s, ` +
        `requests counted per key ${expected.join('/')} (outage ${duringOutage.join('/')}), ` +
        `shared counters ${shared.join('/')}`,
    );
    expect(shared).toEqual(expected);
    // The outage really was under traffic, and the quota really answered both ways.
    expect(duringOutage.every((n) => n >= DURING / API_KEYS.length - 1)).toBe(true);
    const statuses = new Set(API_KEYS.flatMap((k) => [...answered.get(k)!.keys()]));
    expect([...statuses].sort()).toEqual([200, 429]);
  }, 180_000);
});
