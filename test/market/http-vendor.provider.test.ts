/**
 * Issue 14, the HTTP vendor provider against the fake vendor (loopback): answers equal the
 * synthetic source's; retries with back-off on 500 and on timeouts; `Retry-After` honoured on 429
 * (waited when short, a budget error naming the wait when long); malformed or wrongly shaped
 * payloads are source errors without retries; the budget hook runs before every attempt.
 */
import { SourceBudgetExhaustedError } from '../../src/cache/index.js';
import {
  HttpVendorProvider,
  type HttpVendorProviderOptions,
} from '../../src/market/providers/http/http-vendor.provider.js';
import { retryAfterMs } from '../../src/market/providers/http/vendor-client.js';
import { MarketDataError } from '../../src/market/providers/market-data.errors.js';
import { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';
import { startFakeVendor, type FakeVendor } from '../support/fake-vendor.js';

const TODAY = '2026-11-30';
const KEY = 'test-key-123';

describe('HttpVendorProvider against the fake vendor', () => {
  let vendor: FakeVendor;
  const synthetic = new SyntheticMarketDataProvider({ today: () => TODAY });

  beforeEach(async () => {
    vendor = await startFakeVendor({ apiKey: KEY, today: () => TODAY, tradesPageSize: 50 });
  });
  afterEach(async () => {
    await vendor.close();
  });

  const provider = (over: Partial<HttpVendorProviderOptions> = {}) =>
    new HttpVendorProvider({
      baseUrl: vendor.url,
      apiKey: KEY,
      connectTimeoutMs: 300,
      requestTimeoutMs: 1000,
      retries: 2,
      retryBaseMs: 10,
      maxRetryAfterMs: 2000,
      ...over,
    });

  it('answers what the source holds, route by route, with the API key in X-API-Key', async () => {
    const p = provider();
    expect(await p.getQuote('aapl')).toEqual(await synthetic.getQuote('AAPL'));
    expect(await p.getFinancials('MSFT', 'quarterly', 'Q2')).toEqual(
      await synthetic.getFinancials('MSFT', 'quarterly', 'Q2'),
    );
    expect(await p.getNews('AAPL', 'earnings')).toEqual(
      await synthetic.getNews('AAPL', 'earnings'),
    );
    expect(await p.getDailyBars('AAPL', '2026-10-01', '2026-10-31')).toEqual(
      await synthetic.getDailyBars('AAPL', '2026-10-01', '2026-10-31'),
    );
    const trades = [];
    for await (const t of p.streamTrades({ tickers: ['AAPL', 'MSFT'] }, '2026-11-02', '2026-11-03'))
      trades.push(t);
    const expected = [];
    for await (const t of synthetic.streamTrades(
      { tickers: ['AAPL', 'MSFT'] },
      '2026-11-02',
      '2026-11-03',
    ))
      expected.push(t);
    expect(trades.length).toBeGreaterThan(100); // several pages of 50
    expect(trades).toEqual(expected);
    const ids = trades.slice(0, 3).map((t) => t.tradeId);
    expect(await p.getTradeEvents([...ids, 'T-NOPE-20260101-1'])).toEqual(
      await synthetic.getTradeEvents(ids),
    );
    expect(await p.hasTicker('aapl')).toBe(true);
    expect(await p.hasTicker('ZZZZ')).toBe(false);
    expect(await p.listTickers()).toEqual(await synthetic.listTickers());
    // The ticker list was fetched once for three questions.
    expect(vendor.calls.filter((c) => c.path === '/v1/tickers')).toHaveLength(1);
    expect(p.getCallCounts().getQuote).toBe(1);
  });

  it('refuses a wrong key without retrying (SOURCE_UNAVAILABLE, no key in the message)', async () => {
    const err = await provider({ apiKey: 'wrong-key' })
      .getQuote('AAPL')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MarketDataError);
    expect((err as MarketDataError).code).toBe('SOURCE_UNAVAILABLE');
    expect((err as Error).message).not.toContain('wrong-key');
    expect((err as Error).message).not.toContain(String(vendor.port));
    expect(vendor.calls).toHaveLength(1);
  });

  it('maps an unknown ticker (404 UNKNOWN_TICKER) without retrying', async () => {
    const err = await provider()
      .getQuote('ZZZZ')
      .catch((e: unknown) => e);
    expect((err as MarketDataError).code).toBe('UNKNOWN_TICKER');
    expect(vendor.calls).toHaveLength(1);
  });

  it('retries 500s with back-off and succeeds within the retries; fails after them', async () => {
    vendor.failNext('status500', 2);
    const p = provider();
    expect((await p.getQuote('AAPL')).ticker).toBe('AAPL');
    expect(vendor.calls.map((c) => c.status)).toEqual([500, 500, 200]);
    expect(p.clientStats.retries).toBe(2);

    vendor.failNext('status500', 3);
    const err = await p.getQuote('AAPL').catch((e: unknown) => e);
    expect((err as MarketDataError).code).toBe('SOURCE_UNAVAILABLE');
    expect(vendor.calls.slice(3).map((c) => c.status)).toEqual([500, 500, 500]);
  });

  it('bounds a hanging vendor by the headers timeout and retries it (SOURCE_TIMEOUT)', async () => {
    vendor.failNext('hang', 2);
    const p = provider({ connectTimeoutMs: 100 });
    expect((await p.getQuote('AAPL')).ticker).toBe('AAPL');
    expect(vendor.calls.map((c) => c.status)).toEqual([-1, -1, 200]);
    vendor.setFailure('hang');
    const err = await p.getQuote('AAPL').catch((e: unknown) => e);
    expect((err as MarketDataError).code).toBe('SOURCE_TIMEOUT');
    expect(vendor.calls).toHaveLength(6);
  });

  it('treats malformed JSON and a wrong shape as source errors, without retrying', async () => {
    const p = provider();
    vendor.failNext('malformed');
    const bad = await p.getQuote('AAPL').catch((e: unknown) => e);
    expect((bad as MarketDataError).code).toBe('SOURCE_UNAVAILABLE');
    expect((bad as Error).message).toMatch(/not JSON/);
    vendor.failNext('wrongShape');
    const shape = await p.getNews('AAPL', 'general').catch((e: unknown) => e);
    expect((shape as MarketDataError).code).toBe('SOURCE_UNAVAILABLE');
    expect((shape as Error).message).toMatch(/malformed/);
    expect(vendor.calls).toHaveLength(2);
  });

  it('waits for a short Retry-After on 429, then retries', async () => {
    vendor.failNext('status429');
    const p = provider();
    expect((await p.getQuote('AAPL')).ticker).toBe('AAPL');
    const [first, second] = vendor.calls;
    expect([first.status, second.status]).toEqual([429, 200]);
    // Retry-After: 1 (second) was honoured: the retry came no earlier (timers never fire early).
    expect(second.at - first.at).toBeGreaterThanOrEqual(990);
  });

  it('fails at once with the wait when Retry-After is longer than maxRetryAfterMs', async () => {
    vendor.failNext('status429');
    const err = await provider({ maxRetryAfterMs: 500 })
      .getQuote('AAPL')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceBudgetExhaustedError);
    expect((err as SourceBudgetExhaustedError).retryAfterMs).toBe(1000);
    expect(vendor.calls).toHaveLength(1);
  });

  it('runs the budget hook before every metered attempt; a refusal sends nothing', async () => {
    let asked = 0;
    const p = provider({
      beforeCall: async () => {
        asked++;
        if (asked > 2) throw new SourceBudgetExhaustedError('vendor', 5000);
      },
    });
    vendor.failNext('status500');
    await p.getQuote('AAPL'); // two attempts, two tokens
    expect(asked).toBe(2);
    await expect(p.getQuote('MSFT')).rejects.toBeInstanceOf(SourceBudgetExhaustedError);
    expect(vendor.calls).toHaveLength(2);
    // The health check is not metered.
    expect((await p.health(500)).status).toBe('up');
    expect(asked).toBe(3);
  });

  it('reports health within its bound and never throws', async () => {
    const p = provider();
    const up = await p.health(500);
    expect(up.status).toBe('up');
    expect(up.latencyMs).toBeGreaterThanOrEqual(0);
    await vendor.close();
    const down = await p.health(200);
    expect(down.status).toBe('down');
    expect(down.reason).toMatch(/network error|no response/);
    vendor = await startFakeVendor(); // for afterEach
  });
});

describe('retryAfterMs', () => {
  it('reads delta seconds and HTTP dates', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});
