/**
 * Issue 14, the app on the HTTP vendor (in-process, memory driver, the fake vendor on loopback):
 * a malformed payload is never cached; a failing vendor serves the stale value with its own
 * `asOf`; a spent budget answers misses 503 with `Retry-After` (never the vendor's 429) and shows
 * in `/health/detailed` and `/metrics`; refreshes refused by the budget are served stale and run
 * later, hottest key first.
 */
import request from 'supertest';
import { startApp, testAppConfig, type TestApp } from '../e2e/support/app-harness.js';
import { sleep } from '../support/cache-context.js';
import { startFakeVendor, type FakeVendor } from '../support/fake-vendor.js';

const KEY = 'vendor-secret-key';

function vendorEnv(vendor: FakeVendor, extra: Record<string, string>): Record<string, string> {
  return {
    CACHE_DRIVER: 'memory',
    DATA_SOURCE: 'http',
    VENDOR_BASE_URL: vendor.url,
    VENDOR_API_KEY: KEY,
    VENDOR_RETRIES: '1',
    VENDOR_RETRY_BASE_MS: '10',
    VENDOR_TTL_SECONDS: 'stock_price=1',
    ...extra,
  };
}

describe('the app on the HTTP vendor, with its call budget', () => {
  let vendor: FakeVendor | undefined;
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    await vendor?.close();
    app = vendor = undefined;
  });

  it('caches nothing malformed, serves stale on vendor errors, and answers 503 + Retry-After once the budget is spent', async () => {
    vendor = await startFakeVendor({ apiKey: KEY, rateLimit: { calls: 10, windowMs: 60_000 } });
    app = await startApp(testAppConfig(vendorEnv(vendor, { VENDOR_CALLS_PER_MINUTE: '10' })));
    const http = request(app.server);

    // The first request also fetches the ticker list (2 tokens).
    expect((await http.get('/api/stocks/MSFT/price')).status).toBe(200);
    // A malformed quote: a source error, not a cached value.
    vendor.failNext('malformed');
    const bad = await http.get('/api/stocks/AAPL/price');
    expect(bad.status).toBe(503);
    expect(bad.text).not.toContain('"price": 1');
    const fresh = await http.get('/api/stocks/AAPL/price');
    expect(fresh.status).toBe(200);
    expect(fresh.headers['x-cache']).toBe('MISS');
    expect(vendor.calls.filter((c) => c.path === '/v1/quote/AAPL')).toHaveLength(2);

    // Past the TTL (1 s) the vendor fails (500, retried once): the stale quote, with its asOf.
    await sleep(1100);
    vendor.setFailure('status500');
    const stale = await http.get('/api/stocks/AAPL/price');
    expect(stale.status).toBe(200);
    expect(stale.headers['x-cache']).toBe('STALE');
    expect(stale.body.asOf).toBe(fresh.body.asOf);
    expect(stale.body.quote).toEqual(fresh.body.quote);
    expect(vendor.calls.filter((c) => c.status === 500)).toHaveLength(2);
    vendor.setFailure(undefined);

    // 6 of 10 tokens spent (tickers, 3 quotes, 2 failed attempts): 4 more tickers, then 503s.
    const tickers = ['GOOGL', 'AMZN', 'NVDA', 'META', 'TSLA', 'JPM'];
    const answers = [];
    for (const t of tickers) answers.push(await http.get(`/api/stocks/${t}/price`));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 503, 503]);
    for (const r of answers.slice(4)) {
      expect(r.headers['retry-after']).toMatch(/^\d+$/);
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(62);
      expect(r.body.code).toBe('SOURCE_BUDGET_EXHAUSTED');
    }
    // The vendor saw exactly its 10 calls a minute, and never had to say 429.
    expect(vendor.calls.filter((c) => c.metered)).toHaveLength(10);
    expect(vendor.calls.filter((c) => c.status === 429)).toEqual([]);

    const health = await http.get('/health/detailed');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('degraded');
    expect(health.body.reasons).toContain('vendor_budget_exhausted');
    expect(health.body.services.vendor_budget).toMatchObject({
      status: 'exhausted',
      remaining: 0,
      calls_per_window: 10,
      refused: { miss: 2 },
    });
    expect(health.body.services.vendor_budget.retry_after_ms).toBeGreaterThan(0);
    const metrics = await http.get('/metrics');
    expect(metrics.text).toMatch(/^market_vendor_budget_remaining 0$/m);
    expect(metrics.text).toMatch(/^market_vendor_calls_total\{kind="miss",outcome="refused"\} 2$/m);
    // The API key never shows.
    expect(JSON.stringify(health.body)).not.toContain(KEY);
    expect(metrics.text).not.toContain(KEY);
  }, 30_000);

  it('defers refreshes the budget refuses, serves them stale, and runs them later hottest first', async () => {
    vendor = await startFakeVendor({ apiKey: KEY });
    app = await startApp(
      testAppConfig(
        vendorEnv(vendor, {
          VENDOR_CALLS_PER_MINUTE: '6',
          VENDOR_BUDGET_WINDOW_MS: '2500',
          VENDOR_MISS_RESERVE_PERCENT: '20',
        }),
      ),
    );
    const http = request(app.server);
    // 5 tokens: the ticker list and 4 quotes (coldest first).
    const tickers = ['AMZN', 'GOOGL', 'MSFT', 'AAPL'];
    for (const t of tickers) expect((await http.get(`/api/stocks/${t}/price`)).status).toBe(200);
    expect(vendor.calls.filter((c) => c.ticker)).toHaveLength(4);

    // Expired; 1 token left, below the reserve (2): every refresh is deferred, every read is
    // stale. Hotness: AAPL 8 reads, MSFT 4, GOOGL 2, AMZN 1 (fresh repeats would be answered by
    // the HTTP cache before the data service; stale reads reach it).
    await sleep(1100);
    for (const [i, t] of tickers.entries())
      for (let n = 0; n < 2 ** i; n++) {
        const r = await http.get(`/api/stocks/${t}/price`);
        expect(r.status).toBe(200);
        expect(r.headers['x-cache']).toBe('STALE');
      }
    expect(vendor.calls.filter((c) => c.ticker)).toHaveLength(4);

    // Once the window has passed, the deferred refreshes run, hottest first.
    for (let i = 0; i < 100 && vendor.calls.filter((c) => c.ticker).length < 8; i++)
      await sleep(100);
    const refreshed = vendor.calls
      .filter((c) => c.ticker)
      .slice(4)
      .map((c) => c.ticker);
    expect(refreshed).toEqual(['AAPL', 'MSFT', 'GOOGL', 'AMZN']);
    const health = await http.get('/health/detailed');
    expect(health.body.services.vendor_budget).toMatchObject({
      refreshes_deferred: 4,
      refreshes_pending: 0,
      deferred_refreshes_run: 4,
    });
    expect(health.body.services.vendor_budget.stale_served_for_budget).toBeGreaterThanOrEqual(4);
  }, 30_000);
});
