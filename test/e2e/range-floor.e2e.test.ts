/**
 * Bounded growth (issue 12): bars and trades ranges have a floor — the later of the configured
 * `MARKET_EARLIEST_DATE` and the source's first day (synthetic: 2000-01-03). Requests for days
 * before it answer 200 without asking the source for those days and without writing any day key.
 */
import request from 'supertest';
import type { Trade } from '../../src/market/providers/market-data.provider.js';
import type { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';
import { SERIES_EPOCH } from '../../src/market/providers/synthetic/bar-series.js';
import { daysOf } from '../../src/cache/index.js';
import { keysUnder, postTrades, startMarketApp, type MarketApp } from './market-e2e-support.js';

/**
 * The `YYYY-MM-DD` day (or `YYYY-MM` closed month) a bars or trades range key stands for (parts
 * keys end in `:{part}`).
 */
function dayOfKey(key: string): string {
  const m = /:(\d{4}-\d{2}(?:-\d{2})?)(?::\d+)?$/.exec(key);
  if (!m) throw new Error(`not a range key: ${key}`);
  return m[1];
}

/** The range cache's own keys among `keys`: not the HTTP cache's responses, nor its locks. */
function rangeKeys(keys: readonly string[]): string[] {
  return keys.filter((k) => !k.includes(':http:'));
}

/** Keys under the app's prefix that were not there in `before`. */
async function newKeys(m: MarketApp, before: readonly string[]): Promise<string[]> {
  const seen = new Set(before);
  // The anonymous throttle's counter (one per client address, TTL of its window) is not range data.
  return (await keysUnder(m.redis, m.prefix)).filter(
    (k) => !seen.has(k) && !k.includes(':throttle:'),
  );
}

/** Ranges of ten years or less, all before 1990 (the default configured floor). */
const ANCIENT_RANGES: Array<[string, string]> = [
  ['1100-01-01', '1109-12-31'],
  ['1150-06-01', '1160-05-31'],
  ['1200-01-01', '1200-01-31'],
  ['1899-12-31', '1909-12-30'],
  ['1979-01-01', '1988-12-31'],
];

describe('range floor on the synthetic source (default MARKET_EARLIEST_DATE)', () => {
  let m: MarketApp<SyntheticMarketDataProvider>;
  const http = () => request(m.app.getHttpServer());

  beforeAll(async () => {
    m = await startMarketApp<SyntheticMarketDataProvider>({}, '2024-06-28');
  }, 30_000);
  afterAll(async () => {
    await m?.close();
  });
  beforeEach(() => m.provider.resetCallCounts());

  it('cold bars requests for ranges wholly before the floor add no key and answer 200 with no bars', async () => {
    const before = await keysUnder(m.redis, m.prefix);
    // Both sides of the configured default: centuries before 1990, and the 1990s before the
    // synthetic source's first day (the source's floor is later than the configured one).
    const ranges = [...ANCIENT_RANGES, ['1990-01-01', '1999-12-31'], ['1995-03-01', '2000-01-02']];
    for (const ticker of ['AAPL', 'MSFT', 'GOOGL'])
      for (const [from, to] of ranges) {
        const res = await http()
          .get(`/api/stocks/${encodeURIComponent(ticker)}/bars?from=${from}&to=${to}`)
          .expect(200);
        expect(res.body).toMatchObject({ ticker, from, to, bars: [] });
      }
    expect(await newKeys(m, before)).toEqual([]);
    expect(m.provider.getCallCounts().getDailyBars).toBe(0);
  });

  it('a bars range straddling the floor writes day keys only for days on or after it', async () => {
    const before = await keysUnder(m.redis, m.prefix);
    const res = await http().get('/api/stocks/AMZN/bars?from=1999-11-15&to=2000-01-31').expect(200);
    expect(m.provider.getRequestedBarRanges()).toEqual([
      { ticker: 'AMZN', from: SERIES_EPOCH, to: '2000-01-31' },
    ]);
    // Same response shape: the client's `from`, the bars that exist.
    expect(res.body).toMatchObject({ ticker: 'AMZN', from: '1999-11-15', to: '2000-01-31' });
    expect(res.body.bars).toEqual(
      await m.provider.getDailyBars('AMZN', '1999-11-15', '2000-01-31'),
    );
    expect(res.body.bars[0].date).toBe(SERIES_EPOCH);
    // January 2000 is closed but only partly known (the series starts on the 3rd): kept per day.
    const added = rangeKeys(await newKeys(m, before));
    expect(added.map(dayOfKey).sort()).toEqual(daysOf(SERIES_EPOCH, '2000-01-31'));
  });

  it('cold trades queries wholly before the floor add no key and answer the meta line alone', async () => {
    const before = await keysUnder(m.redis, m.prefix);
    for (const [from, to] of [
      ['1100-01-01', '1100-12-31'],
      ['1999-01-04', '2000-01-02'],
    ]) {
      const res = await postTrades(m.app, { filters: { tickers: ['AAPL', 'MSFT'] }, from, to });
      expect(res.status).toBe(200);
      expect(res.lines).toHaveLength(1);
      expect(res.lines[0]).toMatchObject({ fetched: [] });
    }
    expect(await newKeys(m, before)).toEqual([]);
    expect(m.provider.getCallCounts().streamTrades).toBe(0);
  });

  it('a trades range straddling the floor writes day keys only for days on or after it', async () => {
    const before = await keysUnder(m.redis, m.prefix);
    const res = await postTrades(m.app, {
      filters: { tickers: ['NVDA'] },
      from: '1999-12-20',
      to: '2000-01-07',
    });
    expect(res.status).toBe(200);
    expect(res.lines[0]).toMatchObject({ fetched: [[SERIES_EPOCH, '2000-01-07']] });
    const trades = res.lines.slice(1) as unknown as Trade[];
    expect(trades.length).toBeGreaterThan(0);
    expect(trades.every((t) => t.tradeDate >= SERIES_EPOCH)).toBe(true);
    const added = await newKeys(m, before);
    expect(added.length).toBeGreaterThan(0);
    expect(added.filter((k) => dayOfKey(k) < SERIES_EPOCH)).toEqual([]);
    expect([...new Set(added.map(dayOfKey))].sort()).toEqual(daysOf(SERIES_EPOCH, '2000-01-07'));
  });
});

describe('range floor from MARKET_EARLIEST_DATE (later than the source)', () => {
  let m: MarketApp<SyntheticMarketDataProvider>;
  const http = () => request(m.app.getHttpServer());

  beforeAll(async () => {
    m = await startMarketApp<SyntheticMarketDataProvider>(
      { MARKET_EARLIEST_DATE: '2010-01-01' },
      '2024-06-28',
    );
  }, 30_000);
  afterAll(async () => {
    await m?.close();
  });
  beforeEach(() => m.provider.resetCallCounts());

  it('bars before the configured date are neither fetched nor cached', async () => {
    const before = await keysUnder(m.redis, m.prefix);
    const none = await http()
      .get('/api/stocks/AAPL/bars?from=2005-01-01&to=2009-12-31')
      .expect(200);
    expect(none.body.bars).toEqual([]);
    expect(await newKeys(m, before)).toEqual([]);

    const res = await http().get('/api/stocks/AAPL/bars?from=2009-12-01&to=2010-01-31').expect(200);
    expect(res.body.bars.map((b: { date: string }) => b.date)[0] >= '2010-01-01').toBe(true);
    expect(m.provider.getRequestedBarRanges()).toEqual([
      { ticker: 'AAPL', from: '2010-01-01', to: '2010-01-31' },
    ]);
    // January 2010 is closed and wholly fetched: one month bucket, no day keys.
    const added = rangeKeys(await newKeys(m, before));
    expect(added.map(dayOfKey).sort()).toEqual(['2010-01']);
  });

  it('trades before the configured date are neither fetched nor cached', async () => {
    const before = await keysUnder(m.redis, m.prefix);
    const res = await postTrades(m.app, {
      filters: { tickers: ['AAPL'] },
      from: '2009-12-28',
      to: '2010-01-08',
    });
    expect(res.status).toBe(200);
    expect(res.lines[0]).toMatchObject({ fetched: [['2010-01-01', '2010-01-08']] });
    const added = await newKeys(m, before);
    expect([...new Set(added.map(dayOfKey))].sort()).toEqual(daysOf('2010-01-01', '2010-01-08'));
  });
});
