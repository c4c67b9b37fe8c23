/**
 * Issue 12, corrupt-entry hardening, over HTTP against the whole app on the harness Redis.
 * Entries are planted raw under the app's key prefix; each must be answered fresh from the
 * source (never a 500), its key replaced by the source's value, and counted once as corrupt
 * under its key type: envelopes with instants a `Date` cannot hold or a timeline out of order,
 * a 200k-deep value, and well-formed envelopes whose value has the wrong shape for its key type
 * (a string quote, a `null` bar, a bars day that is not a day).
 */
import request from 'supertest';
import type { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';
import { readEntry } from '../../src/cache/tiered/cache-entry.js';
import { startMarketApp, type MarketApp } from './market-e2e-support.js';

let m: MarketApp<SyntheticMarketDataProvider>;
const http = () => request(m.app.getHttpServer());

beforeAll(async () => {
  m = await startMarketApp<SyntheticMarketDataProvider>();
}, 30_000);

afterAll(async () => {
  await m?.close();
});

beforeEach(() => m.provider.resetCallCounts());

/** A stored envelope as the library writes it, `valueJson` spliced in verbatim; a sound timeline unless overridden. */
function envelope(
  valueJson: string,
  t: Partial<Record<'a' | 's' | 'e' | 'k', number | string>> = {},
): string {
  const now = Date.now();
  const { a = now, s = now + 60_000, e = now + 120_000, k = now + 600_000 } = t;
  return `{"v":${valueJson},"a":${a},"s":${s},"e":${e},"k":${k}}`;
}

/** A 200,000-deep array value: `[[[...]]]`. */
const DEEP_VALUE = '['.repeat(200_000) + ']'.repeat(200_000);

/** What the synthetic source answers for a quote, minus its clock (for comparison). */
const quoteShape = (ticker: string) => ({
  ticker,
  price: expect.any(Number),
  currency: expect.any(String),
});

const corruptOf = async (type: string): Promise<number> => {
  const stats = await http().get('/api/cache/stats').expect(200);
  return (stats.body.byKeyType[type]?.l2.corrupt as number | undefined) ?? 0;
};

const plant = (key: string, text: string) => m.redis.set(`${m.prefix}:${key}`, text, 'EX', 300);
const stored = async (key: string) => {
  const raw = await m.redis.get(`${m.prefix}:${key}`);
  if (raw === null) return null;
  // Through the codec: a long text (a month's bars) is stored raw, after a length prefix.
  const entry = readEntry(raw, undefined);
  if (typeof entry === 'string') throw new Error(`${key} holds no entry (${entry})`);
  return { v: entry.value, a: entry.asOf };
};

describe('a planted quote entry that is not a valid entry: fresh from the source, replaced, counted once', () => {
  const quote =
    '{"ticker":"X","price":1,"open":1,"high":1,"low":1,"previousClose":1,"change":0,"changePercent":0,"volume":1,"currency":"USD","asOf":"2024-01-01T00:00:00.000Z"}';
  it.each([
    ['asOf 1e300 (outside the Date range)', 'AAPL', envelope(quote, { a: 1e300 })],
    ['asOf -1e20 (negative, outside the Date range)', 'MSFT', envelope(quote, { a: -1e20 })],
    ['keepUntil 1e300', 'GOOGL', envelope(quote, { k: 1e300 })],
    [
      'a timeline out of order (staleAt after expiresAt)',
      'AMZN',
      envelope(quote, { s: Date.now() + 200_000 }),
    ],
    ['a 200k-deep value', 'NVDA', envelope(DEEP_VALUE)],
    ['a string quote', 'META', envelope('"a quote"')],
    ['a null quote', 'TSLA', envelope('null')],
    ['a quote without its numbers', 'JPM', envelope('{"ticker":"JPM","price":"high"}')],
  ])('%s', async (_name, ticker, text) => {
    const key = `stock_price:${ticker}:latest`;
    await plant(key, text);
    const before = await corruptOf('stock_price');

    const res = await http().get(`/api/stocks/${ticker}/price`).expect(200);
    expect(res.headers['x-cache']).toBe('MISS');
    expect(res.body.quote).toMatchObject(quoteShape(ticker));
    expect(Number.isFinite(Date.parse(res.body.asOf))).toBe(true);
    expect(m.provider.getCallCounts().getQuote).toBe(1);
    expect(await corruptOf('stock_price')).toBe(before + 1);
    // The planted text is gone: the key now holds the source's quote.
    const now = await stored(key);
    expect(now?.v).toMatchObject(quoteShape(ticker));
    expect(Math.abs((now?.a ?? 0) - Date.now())).toBeLessThan(3_600_000);

    // And it is served from the cache from now on, without the source.
    const again = await http().get(`/api/stocks/${ticker}/price`).expect(200);
    expect(again.headers['x-cache']).toBe('HIT');
    expect(m.provider.getCallCounts().getQuote).toBe(1);
    expect(await corruptOf('stock_price')).toBe(before + 1);
  });

  it('control: a sound planted quote is served as a hit (the planting itself is right)', async () => {
    await plant('stock_price:BAC:latest', envelope(quote.replace('"X"', '"BAC"')));
    const res = await http().get('/api/stocks/BAC/price').expect(200);
    expect(res.headers['x-cache']).toBe('HIT');
    expect(res.body.quote.price).toBe(1);
    expect(m.provider.getCallCounts().getQuote ?? 0).toBe(0);
  });
});

describe('a planted news entry of the wrong shape', () => {
  it('a string where the items are: fresh from the source, replaced, counted once', async () => {
    const key = 'news_data:AAPL:earnings';
    await plant(key, envelope('"no news"'));
    const before = await corruptOf('news_data');
    const res = await http().get('/api/stocks/AAPL/news?category=earnings').expect(200);
    expect(Array.isArray(res.body.items)).toBe(true);
    expect(m.provider.getCallCounts().getNews).toBe(1);
    expect(await corruptOf('news_data')).toBe(before + 1);
    expect(Array.isArray((await stored(key))?.v)).toBe(true);
  });
});

describe('a planted bars day that is not a valid day: the day is fetched again, replaced, counted once', () => {
  const bar = (date: string) => `{"date":"${date}","open":1,"high":1,"low":1,"close":1,"volume":1}`;
  it.each([
    ['a null bar', 'AAPL', (at: number) => envelope(`{"at":${at},"items":[null]}`)],
    [
      'a bar without numbers',
      'MSFT',
      (at: number) => envelope(`{"at":${at},"items":[{"date":"2024-03-05"}]}`),
    ],
    ['items that are not a list', 'GOOGL', (at: number) => envelope(`{"at":${at},"items":"x"}`)],
    [
      'a day produced at 1e300',
      'AMZN',
      () => envelope(`{"at":1e300,"items":[${bar('2024-03-05')}]}`),
    ],
    ['a 200k-deep day', 'NVDA', () => envelope(DEEP_VALUE)],
    [
      'an envelope produced at -1e20',
      'META',
      (at: number) => envelope(`{"at":${at},"items":[]}`, { a: -1e20 }),
    ],
  ])('%s', async (_name, ticker, text) => {
    const key = `price_bars:${ticker}:2024-03-05`;
    await plant(key, text(Date.now()));
    const before = await corruptOf('price_bars');

    const res = await http()
      .get(`/api/stocks/${ticker}/bars?from=2024-03-04&to=2024-03-06`)
      .expect(200);
    expect(res.headers['x-cache']).toBe('MISS');
    // One source call; it covers the rest of March too (a closed month, so it is folded).
    expect(m.provider.getRequestedBarRanges()).toEqual([
      { ticker, from: '2024-03-01', to: '2024-03-31' },
    ]);
    const fresh = await m.provider.getDailyBars(ticker, '2024-03-04', '2024-03-06');
    expect(res.body.bars).toEqual(fresh);
    expect(await corruptOf('price_bars')).toBe(before + 1);
    // The planted day is gone; the day is in March's bucket: the month's bars as JSON bytes,
    // each followed by a comma.
    expect(await stored(key)).toBeNull();
    const month = (await stored(`price_bars:${ticker}:2024-03`))?.v as { b: string };
    expect(
      (JSON.parse(`[${month.b.slice(0, -1)}]`) as Array<{ date: string }>).filter(
        (b) => b.date === '2024-03-05',
      ),
    ).toEqual(fresh.filter((b) => b.date === '2024-03-05'));
  });

  it('control: a sound planted day is served from the cache', async () => {
    await plant(
      'price_bars:JPM:2024-03-05',
      envelope(`{"at":${Date.now()},"items":[${bar('2024-03-05')}]}`),
    );
    const res = await http().get('/api/stocks/JPM/bars?from=2024-03-05&to=2024-03-05').expect(200);
    expect(res.headers['x-cache']).toBe('HIT');
    expect(res.body.bars).toEqual([
      { date: '2024-03-05', open: 1, high: 1, low: 1, close: 1, volume: 1 },
    ]);
  });
});
