/**
 * Issue 14 acceptance: two app instances (real processes) on one Redis in front of the fake vendor
 * limited to 10 calls per window. 500 requests over 50 tickers (Zipf) inside one window: the
 * vendor sees at most 10 calls and never answers 429; every answer is 200 (fresh or stale, with
 * its asOf) or 503 with Retry-After for a ticker not cached yet; the refreshes deferred meanwhile
 * run in the next window, hottest first across both instances (each instance holds only the
 * refreshes it deferred itself; the fleet's waiting list in Redis orders them). The window is short (VENDOR_BUDGET_WINDOW_MS) so the
 * test needs seconds, not minutes; the vendor's window is 10 s, the budget's 10.5 s (its slack); the load is spread over 3 s,
 * so a loaded machine has 7 s of room before it would spill into the next window.
 */
import * as http from 'node:http';
import { TEST_HOST } from '../harness/redis-server.js';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix } from '../support/cache-context.js';
import { startFakeVendor, type FakeVendor } from '../support/fake-vendor.js';
import { startAppProcess, type AppProcess } from './support/app-process.js';

const VENDOR_WINDOW_MS = 10_000;
const BUDGET_WINDOW_MS = 10_500;
const LIMIT = 10;
const REQUESTS = 500;
const TICKERS = Array.from({ length: 50 }, (_, i) => `T${String(i).padStart(2, '0')}X`);

interface Answer {
  ticker: string;
  status: number;
  end: number;
  xCache?: string;
  asOf?: string;
  retryAfter?: string;
}

/** Deterministic Zipf (s = 1) picks over TICKERS. */
function zipfPicks(count: number): string[] {
  const weights = TICKERS.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: count }, () => {
    let r = rand() * total;
    for (let i = 0; i < weights.length; i++) if ((r -= weights[i]) <= 0) return TICKERS[i];
    return TICKERS[TICKERS.length - 1];
  });
}

function get(agent: http.Agent, port: number, ticker: string): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = http.get(
      { host: TEST_HOST, port, path: `/api/stocks/${ticker}/price`, agent },
      (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString()));
        res.on('end', () => {
          let asOf: string | undefined;
          try {
            asOf = (JSON.parse(body) as { asOf?: string }).asOf;
          } catch {
            asOf = undefined;
          }
          done({
            ticker,
            status: res.statusCode ?? 0,
            end: Date.now(),
            xCache: res.headers['x-cache'] as string | undefined,
            asOf,
            retryAfter: res.headers['retry-after'],
          });
        });
      },
    );
    req.on('error', fail);
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
  });
}

describe('vendor budget across two instances on one Redis (real processes)', () => {
  let vendor: FakeVendor | undefined;
  let apps: AppProcess[] = [];

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await vendor?.close();
  });

  it(`${REQUESTS} requests over ${TICKERS.length} tickers in one window: ≤ ${LIMIT} vendor calls, no 429, 200 or 503 + Retry-After; deferred refreshes next window, hottest first`, async () => {
    vendor = await startFakeVendor({
      tickers: TICKERS,
      rateLimit: { calls: LIMIT, windowMs: VENDOR_WINDOW_MS },
    });
    const env = {
      CACHE_DRIVER: 'redis',
      REDIS_URL: testRedis().url,
      CACHE_KEY_PREFIX: uniquePrefix('vbud'),
      HTTP_THROTTLE_LIMIT: '0',
      DATA_SOURCE: 'http',
      VENDOR_BASE_URL: vendor.url,
      VENDOR_CALLS_PER_MINUTE: String(LIMIT),
      VENDOR_BUDGET_WINDOW_MS: String(BUDGET_WINDOW_MS),
      VENDOR_EXPECTED_INSTANCES: '2',
      VENDOR_TTL_SECONDS: 'stock_price=1',
      VENDOR_RETRY_BASE_MS: '20',
    };
    apps = await Promise.all([startAppProcess(env), startAppProcess(env)]);
    const picks = zipfPicks(REQUESTS);
    const popularity = new Map<string, number>();
    for (const t of picks) popularity.set(t, (popularity.get(t) ?? 0) + 1);

    // 10 clients, alternating instances, paced to finish in about 4 s (inside the window).
    const agents = apps.map(() => new http.Agent({ keepAlive: true, maxSockets: 10 }));
    const answers: Answer[] = [];
    const loadStart = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          const at = loadStart + (i * 3000) / REQUESTS;
          if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
          answers.push(await get(agents[i % 2], apps[i % 2].port, picks[i]));
        }
      }),
    );
    const loadEnd = Date.now();
    for (const a of agents) a.destroy();
    console.log(
      `vendor budget fleet: ${answers.length} requests in ${loadEnd - loadStart} ms; ` +
        `${answers.filter((a) => a.status === 200).length} × 200, ${answers.filter((a) => a.status === 503).length} × 503`,
    );
    expect(loadEnd - loadStart).toBeLessThan(BUDGET_WINDOW_MS); // all inside one window

    // Every answer: 200 with asOf and X-Cache, or 503 + Retry-After for a ticker not cached yet.
    expect(answers).toHaveLength(REQUESTS);
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    const firstOk = new Map<string, number>();
    for (const a of [...answers].sort((x, y) => x.end - y.end))
      if (a.status === 200 && !firstOk.has(a.ticker)) firstOk.set(a.ticker, a.end);
    for (const a of answers) {
      if (a.status === 200) {
        expect(a.xCache).toMatch(/^(HIT|MISS|STALE)$/);
        expect(a.asOf).toMatch(/^\d{4}-\d\d-\d\dT/);
        expect(Date.parse(a.asOf!)).toBeLessThanOrEqual(a.end);
        continue;
      }
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(a.retryAfter)).toBeLessThanOrEqual(Math.ceil(BUDGET_WINDOW_MS / 1000));
      // Refused only before the ticker was ever answered (nothing stale to serve).
      expect(firstOk.get(a.ticker) ?? Infinity).toBeGreaterThan(a.end - 50);
    }
    expect(answers.filter((a) => a.xCache === 'STALE').length).toBeGreaterThan(0);

    // The vendor: at most LIMIT calls while the load ran, never a 429.
    const firstWindow = vendor.calls.filter((c) => c.metered && c.at <= loadEnd);
    expect(firstWindow.length).toBeLessThanOrEqual(LIMIT);
    expect(firstWindow.length).toBeGreaterThan(0);
    const cached = new Set(firstWindow.filter((c) => c.ticker).map((c) => c.ticker!));

    // Next window: the deferred refreshes (no client traffic now), hottest first.
    const firstCall = firstWindow[0].at;
    await new Promise((r) => setTimeout(r, firstCall + 2 * BUDGET_WINDOW_MS + 500 - Date.now()));
    expect(vendor.calls.filter((c) => c.status === 429)).toEqual([]);
    const refreshes = vendor.calls.filter((c) => c.metered && c.at > loadEnd);
    expect(refreshes.length).toBeGreaterThan(0);
    expect(refreshes.length).toBeLessThanOrEqual(LIMIT);
    for (const c of refreshes) {
      expect(cached.has(c.ticker!)).toBe(true); // a refresh of data cached in the first window
      expect(c.at).toBeGreaterThanOrEqual(firstCall + VENDOR_WINDOW_MS);
    }
    const counts = refreshes.map((c) => popularity.get(c.ticker!) ?? 0);
    const hottestCached = Math.max(...[...cached].map((t) => popularity.get(t) ?? 0));
    console.log(
      `refresh order (requests per ticker): ${counts.join(', ')}; hottest cached ${hottestCached}`,
    );
    // Hottest first across the fleet, whichever instance holds it and whichever looks first.
    expect(counts[0]).toBe(hottestCached);
    let inversions = 0;
    let pairs = 0;
    for (let i = 0; i < counts.length; i++)
      for (let j = i + 1; j < counts.length; j++) {
        pairs++;
        if (counts[j] > counts[i]) inversions++;
      }
    expect(inversions).toBeLessThanOrEqual(Math.floor(pairs / 4));
  }, 120_000);
});
