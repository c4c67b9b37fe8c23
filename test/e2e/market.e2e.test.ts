/**
 * The stock-analysis routes end to end on the synthetic source, against the harness Redis:
 * bars and trades delta-fetching, TTLs of day buckets, cache headers, analysis values,
 * validation (400 naming the field, nothing cached or fetched) and the OpenAPI document.
 */
import { jest } from '@jest/globals';
import { once } from 'node:events';
import http_ from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { TieredCache } from '../../src/cache/tiered/tiered-cache.js';
import { computeAnalysis, type AnalysisType } from '../../src/market/analysis/analysis.js';
import { MarketDataError } from '../../src/market/providers/market-data.errors.js';
import type {
  DailyBar,
  Trade,
  TradeFilters,
} from '../../src/market/providers/market-data.provider.js';
import type { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';
import { DEFAULT_TICKERS } from '../../src/market/providers/synthetic-data.js';
import { addDays, tradingDays } from '../../src/market/providers/trading-calendar.js';
import { normalizeTradeFilters, tradeSignature } from '../../src/market/trades.service.js';
import { keysUnder, postTrades, startMarketApp, type MarketApp } from './market-e2e-support.js';

let m: MarketApp<SyntheticMarketDataProvider>;
const http = () => request(m.app.getHttpServer());

beforeAll(async () => {
  m = await startMarketApp<SyntheticMarketDataProvider>();
}, 30_000);

afterAll(async () => {
  await m?.close();
});

beforeEach(() => m.provider.resetCallCounts());

async function collect(it: AsyncIterable<Trade>): Promise<Trade[]> {
  const out: Trade[] = [];
  for await (const t of it) out.push(t);
  return out;
}

describe('GET /api/stocks/:ticker/bars (range cache)', () => {
  it('fetches only the missing days: Jan-Jun, then Jan-Jul (July only), then Mar-Apr (nothing)', async () => {
    const first = await http()
      .get('/api/stocks/aapl/bars?from=2024-01-01&to=2024-06-30')
      .expect(200);
    expect(m.provider.getRequestedBarRanges()).toEqual([
      { ticker: 'AAPL', from: '2024-01-01', to: '2024-06-30' },
    ]);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['x-cache-coverage']).toBe('none');
    expect(first.body).toMatchObject({ ticker: 'AAPL', from: '2024-01-01', to: '2024-06-30' });
    expect(first.body.bars.map((b: DailyBar) => b.date)).toEqual(
      tradingDays('2024-01-01', '2024-06-30'),
    );

    m.provider.resetCallCounts();
    const wider = await http()
      .get('/api/stocks/AAPL/bars?from=2024-01-01&to=2024-07-31')
      .expect(200);
    expect(m.provider.getCallCounts().getDailyBars).toBe(1);
    expect(m.provider.getRequestedBarRanges()).toEqual([
      { ticker: 'AAPL', from: '2024-07-01', to: '2024-07-31' },
    ]);
    expect(wider.headers['x-cache']).toBe('MISS');
    expect(wider.headers['x-cache-coverage']).toBe('partial');
    expect(wider.body.bars).toEqual(
      await m.provider.getDailyBars('AAPL', '2024-01-01', '2024-07-31'),
    );
    expect(Date.parse(wider.body.asOf)).toBeLessThanOrEqual(Date.now());

    m.provider.resetCallCounts();
    const inside = await http()
      .get('/api/stocks/AAPL/bars?from=2024-03-01&to=2024-04-30')
      .expect(200);
    expect(m.provider.getCallCounts().getDailyBars).toBe(0);
    expect(inside.headers['x-cache']).toBe('HIT');
    expect(inside.headers['x-cache-coverage']).toBe('full');
    expect(inside.headers['cache-control']).toMatch(/^max-age=\d+$/);
    expect(inside.body.bars).toEqual(
      wider.body.bars.filter((b: DailyBar) => b.date >= '2024-03-01' && b.date <= '2024-04-30'),
    );

    const etag = inside.headers.etag;
    const again = await http()
      .get('/api/stocks/AAPL/bars?from=2024-03-01&to=2024-04-30')
      .set('If-None-Match', etag)
      .expect(304);
    expect(again.text ?? '').toBe('');
    expect(again.headers['x-cache']).toBe('HIT');

    // The repeated URL is answered from the app's HTTP cache: the range cache is not read again.
    const stats = await http().get('/api/cache/stats').expect(200);
    expect(stats.body.byKeyType.price_bars.range).toEqual({ hits: 1, partials: 1, misses: 1 });
  });

  it('remembers a range of non-trading days: asked twice, the source is called once', async () => {
    // Good Friday 2024 and the weekend after it.
    const a = await http().get('/api/stocks/MSFT/bars?from=2024-03-29&to=2024-03-31').expect(200);
    expect(a.body.bars).toEqual([]);
    expect(m.provider.getCallCounts().getDailyBars).toBe(1);
    const b = await http().get('/api/stocks/MSFT/bars?from=2024-03-29&to=2024-03-31').expect(200);
    expect(b.body.bars).toEqual([]);
    expect(b.headers['x-cache']).toBe('HIT');
    expect(m.provider.getCallCounts().getDailyBars).toBe(1);
  });

  it('gives the live day a TTL within the stock-price TTL and closed days the long TTL (PTTL)', async () => {
    // "Today" is a fixed Wednesday, injected into the app: the real calendar never matters.
    const today = '2024-07-17';
    const from = addDays(today, -9); // Monday 2024-07-08, a closed trading day
    const fixed = await startMarketApp<SyntheticMarketDataProvider>({}, today);
    try {
      const res = await request(fixed.app.getHttpServer())
        .get(`/api/stocks/NVDA/bars?from=${from}&to=${today}`)
        .expect(200);
      expect(res.body.bars.map((b: DailyBar) => b.date)).toEqual(tradingDays(from, today));
      const livePttl = await fixed.redis.pttl(`${fixed.prefix}:price_bars:NVDA:${today}`);
      expect(livePttl).toBeGreaterThan(0);
      expect(livePttl).toBeLessThanOrEqual(300_000);
      const closedPttl = await fixed.redis.pttl(`${fixed.prefix}:price_bars:NVDA:${from}`);
      expect(closedPttl).toBeGreaterThanOrEqual(30 * 86_400_000 - 60_000);
      // The day before "today" is closed too: only the live day gets the short TTL.
      const yesterday = await fixed.redis.pttl(
        `${fixed.prefix}:price_bars:NVDA:${addDays(today, -1)}`,
      );
      expect(yesterday).toBeGreaterThanOrEqual(30 * 86_400_000 - 60_000);
    } finally {
      await fixed.close();
    }
  });
});

describe('POST /api/trades/query (delta per query signature, NDJSON)', () => {
  const base = { filters: { tickers: ['msft', 'AAPL', 'aapl'] } };

  it('streams NDJSON whose first line is the meta line, then fetches only the missing days', async () => {
    const cold = await postTrades(m.app, { ...base, from: '2024-01-02', to: '2024-01-31' });
    expect(cold.status).toBe(200);
    expect(cold.headers['content-type']).toMatch(/^application\/x-ndjson/);
    expect(cold.headers['x-cache']).toBe('MISS');
    expect(cold.text.endsWith('\n')).toBe(true);
    const signature = tradeSignature(normalizeTradeFilters({ tickers: ['AAPL', 'MSFT'] }));
    expect(cold.lines[0]).toEqual({
      signature,
      cached: false,
      fetched: [['2024-01-02', '2024-01-31']],
      asOf: expect.any(String),
    });
    expect(signature).toMatch(/^[0-9a-f]{20}$/);
    const expected = await collect(
      m.provider.streamTrades({ tickers: ['AAPL', 'MSFT'] }, '2024-01-02', '2024-01-31'),
    );
    expect(cold.lines.slice(1)).toEqual(expected);
    expect(expected.length).toBeGreaterThan(1000); // more than one write of 1000 lines

    m.provider.resetCallCounts();
    const wider = await postTrades(m.app, {
      filters: { tickers: ['MSFT', 'AAPL'] },
      from: '2024-01-02',
      to: '2024-02-29',
    });
    expect(wider.lines[0]).toMatchObject({
      signature,
      cached: 'partial',
      fetched: [['2024-02-01', '2024-02-29']],
    });
    expect(wider.headers['x-cache-coverage']).toBe('partial');
    expect(m.provider.getCallCounts().streamTrades).toBe(1);
    const expectedWider = await collect(
      m.provider.streamTrades({ tickers: ['AAPL', 'MSFT'] }, '2024-01-02', '2024-02-29'),
    );
    expect(wider.lines.slice(1)).toEqual(expectedWider);

    m.provider.resetCallCounts();
    const inside = await postTrades(m.app, { ...base, from: '2024-01-10', to: '2024-02-20' });
    expect(inside.lines[0]).toMatchObject({ signature, cached: true, fetched: [] });
    expect(inside.headers['x-cache']).toBe('HIT');
    expect(m.provider.getCallCounts().streamTrades).toBe(0);
    expect(inside.lines.slice(1)).toEqual(
      expectedWider.filter((t) => t.tradeDate >= '2024-01-10' && t.tradeDate <= '2024-02-20'),
    );
  });

  it('gives different filters a different signature, with their own coverage', async () => {
    const buy = await postTrades(m.app, {
      filters: { tickers: ['AAPL', 'MSFT'], side: 'buy' },
      from: '2024-01-02',
      to: '2024-01-31',
    });
    const meta = buy.lines[0];
    expect(meta.signature).not.toBe(
      tradeSignature(normalizeTradeFilters({ tickers: ['AAPL', 'MSFT'] })),
    );
    expect(meta).toMatchObject({ cached: false, fetched: [['2024-01-02', '2024-01-31']] });
    expect(buy.lines.slice(1).every((t) => t.side === 'buy')).toBe(true);
    expect(tradeSignature(normalizeTradeFilters({ tickers: ['AAPL'], venue: 'xnys' }))).not.toBe(
      tradeSignature(normalizeTradeFilters({ tickers: ['AAPL'], venue: 'XNAS' })),
    );
    expect(
      tradeSignature(normalizeTradeFilters({ tickers: ['AAPL'], side: null, minQuantity: 1 })),
    ).toBe(tradeSignature(normalizeTradeFilters({ tickers: [' aapl ', 'AAPL'] })));
  });

  it('attaches the events of every trade with includeEvents', async () => {
    const res = await postTrades(m.app, {
      filters: { tickers: ['KO'], minQuantity: 200 },
      from: '2024-05-01',
      to: '2024-05-10',
      includeEvents: true,
    });
    const trades = res.lines.slice(1);
    expect(trades.length).toBeGreaterThan(0);
    for (const t of trades) {
      expect(Array.isArray(t.events)).toBe(true);
      expect((t.events as unknown[]).length).toBeGreaterThan(0);
      expect((t.quantity as number) >= 200).toBe(true);
    }
    const ids = trades.map((t) => t.tradeId as string);
    const events = await m.provider.getTradeEvents(ids);
    expect(trades.map((t) => t.events)).toEqual(ids.map((id) => events.get(id)));
    const counts = m.provider.getCallCounts();
    expect(counts.getTradeEvents).toBe(2); // one batch for the answer (≤ 1000 trades), one just above
  });
});

describe('POST /api/trades/query with a slow client', () => {
  afterEach(() => jest.restoreAllMocks());

  it('waits for the client (backpressure) instead of reading the whole range into memory', async () => {
    let pulled = 0;
    const real = m.provider.streamTrades.bind(m.provider);
    jest.spyOn(m.provider, 'streamTrades').mockImplementation(async function* (
      filters: TradeFilters,
      from: string,
      to: string,
    ): AsyncGenerator<Trade> {
      for await (const t of real(filters, from, to)) {
        pulled++;
        yield t;
      }
    });
    const body = {
      filters: { tickers: DEFAULT_TICKERS.slice(0, 25) },
      from: '2023-01-01',
      to: '2023-06-30',
    };
    const total = 25 * 40 * tradingDays(body.from, body.to).length;
    const server = m.app.getHttpServer() as http_.Server;
    if (!server.listening)
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const res = await new Promise<http_.IncomingMessage>((resolve, reject) => {
      const req = http_.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/trades/query',
          headers: { 'content-type': 'application/json' },
        },
        resolve,
      );
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
    res.pause();
    await new Promise((r) => setTimeout(r, 400));
    const whilePaused = pulled;
    expect(whilePaused).toBeLessThan(total / 2);
    let lines = 0;
    let tail = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      const text = tail + chunk;
      const parts = text.split('\n');
      tail = parts.pop() ?? '';
      lines += parts.length;
    });
    res.resume();
    await once(res, 'end');
    expect(lines).toBe(total + 1);
    expect(pulled).toBe(total);
  }, 30_000);
});

describe('GET /api/stocks/:ticker/{price,financials,news,analysis}', () => {
  it('answers each route with asOf and cache headers, and a hit the second time', async () => {
    for (const path of [
      'price',
      'financials?period=quarterly&quarter=Q3',
      'financials',
      'news?category=earnings',
      'analysis?type=short_term',
    ]) {
      const first = await http().get(`/api/stocks/JPM/${path}`).expect(200);
      expect(first.headers['x-cache']).toBe('MISS');
      expect(first.headers.etag).toMatch(/^".+"$/);
      expect(first.headers['cache-control']).toMatch(/^max-age=\d+$/);
      expect(typeof first.body.asOf).toBe('string');
      const second = await http().get(`/api/stocks/jpm/${path}`).expect(200);
      expect(second.headers['x-cache']).toBe('HIT');
      expect(second.body).toEqual(first.body);
      await http()
        .get(`/api/stocks/JPM/${path}`)
        .set('If-None-Match', second.headers.etag)
        .expect(304);
    }
    const price = await http().get('/api/stocks/JPM/price').expect(200);
    // The same quote; its asOf is when it was taken (before the close: the cached one's, earlier).
    const fresh = await m.provider.getQuote('JPM');
    expect({ ...price.body.quote, asOf: 'x' }).toEqual({ ...fresh, asOf: 'x' });
    expect(Date.parse(price.body.quote.asOf)).toBeLessThanOrEqual(Date.parse(fresh.asOf));
    const fin = await http()
      .get('/api/stocks/JPM/financials?period=quarterly&quarter=Q3')
      .expect(200);
    expect(fin.body).toMatchObject({
      period: 'quarterly',
      quarter: 'Q3',
      statement: await m.provider.getFinancials('JPM', 'quarterly', 'Q3'),
    });
    const annual = await http().get('/api/stocks/JPM/financials').expect(200);
    expect(annual.body).toMatchObject({ period: 'annual', quarter: 'FY' });
    const news = await http().get('/api/stocks/JPM/news?category=earnings').expect(200);
    expect(news.body.items).toEqual(await m.provider.getNews('JPM', 'earnings'));
  });

  it.each<AnalysisType>(['short_term', 'comprehensive'])(
    'computes %s indicators equal to computeAnalysis over the same bars from the provider',
    async (type) => {
      const res = await http().get(`/api/stocks/IBM/analysis?type=${type}`).expect(200);
      const { from, to, analysis } = res.body as {
        from: string;
        to: string;
        analysis: ReturnType<typeof computeAnalysis>;
      };
      const bars = await m.provider.getDailyBars('IBM', from, to);
      const expected = computeAnalysis('IBM', bars, type);
      expect(analysis.indicators).toEqual(expected.indicators);
      expect(analysis).toEqual(JSON.parse(JSON.stringify(expected)));
      // Independent checks of two indicators on the same closes.
      const closes = bars.map((b) => b.close);
      expect(analysis.indicators.sma20).toBeCloseTo(
        closes.slice(-20).reduce((a, b) => a + b, 0) / 20,
        10,
      );
      let peak = closes[0];
      let worst = 0;
      for (const c of closes) {
        peak = Math.max(peak, c);
        worst = Math.max(worst, (peak - c) / peak);
      }
      expect(analysis.indicators.maxDrawdown).toBeCloseTo(worst, 12);
      expect(analysis.barCount).toBeGreaterThan(300);
    },
  );

  it('answers 404 for an unknown ticker and caches nothing for it', async () => {
    await m.app.get(TieredCache).drain();
    const before = await keysUnder(m.redis, m.prefix);
    const res = await http().get('/api/stocks/ZZZZ/price');
    expect(res.status).toBe(404);
    expect(m.provider.getCallCounts().getQuote).toBe(0);
    expect((await keysUnder(m.redis, m.prefix)).filter((k) => k.includes('ZZZZ'))).toEqual([]);
    expect(await keysUnder(m.redis, m.prefix)).toEqual(before);
  });
});

describe('source failures', () => {
  afterEach(() => jest.restoreAllMocks());

  it('answers 503 for bars while the source is down, caches nothing, and fetches normally afterwards', async () => {
    jest
      .spyOn(m.provider, 'getDailyBars')
      .mockRejectedValueOnce(new MarketDataError('SOURCE_UNAVAILABLE', 'down'));
    await m.app.get(TieredCache).drain();
    const before = await keysUnder(m.redis, m.prefix);
    const down = await http().get('/api/stocks/PEP/bars?from=2024-03-01&to=2024-03-31');
    expect(down.status).toBe(503);
    expect(await keysUnder(m.redis, m.prefix)).toEqual(before);
    const up = await http().get('/api/stocks/PEP/bars?from=2024-03-01&to=2024-03-31').expect(200);
    expect(up.headers['x-cache-coverage']).toBe('none');
  });

  it('answers 503 (JSON, not NDJSON) when the trades source fails before the stream starts', async () => {
    jest
      .spyOn(m.provider, 'streamTrades')
      .mockImplementation(async function* (): AsyncGenerator<Trade> {
        throw new MarketDataError('SOURCE_UNAVAILABLE', 'down');
      });
    const res = await postTrades(m.app, {
      filters: { tickers: ['PEP'] },
      from: '2024-03-01',
      to: '2024-03-31',
    });
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(res.text)).toMatchObject({ statusCode: 503 });
  });

  it('aborts a stream whose source fails midway, keeping the days completed before the failure', async () => {
    const real = m.provider.streamTrades.bind(m.provider);
    jest.spyOn(m.provider, 'streamTrades').mockImplementation(async function* (
      filters: TradeFilters,
      from: string,
      to: string,
    ): AsyncGenerator<Trade> {
      let n = 0;
      for await (const t of real(filters, from, to)) {
        if (++n > 1500) throw new MarketDataError('SOURCE_UNAVAILABLE', 'down midway');
        yield t;
      }
    });
    const body = { filters: { tickers: ['PEP', 'KO'] }, from: '2024-03-01', to: '2024-03-31' };
    await expect(postTrades(m.app, body)).rejects.toThrow();
    jest.restoreAllMocks();
    const next = await postTrades(m.app, body);
    expect(next.lines[0].cached).toBe('partial');
    const [[gapFrom, gapTo]] = next.lines[0].fetched as Array<[string, string]>;
    expect(gapFrom > '2024-03-10').toBe(true);
    expect(gapTo).toBe('2024-03-31');
    expect(next.lines.slice(1)).toEqual(
      await collect(
        m.provider.streamTrades({ tickers: ['KO', 'PEP'] }, '2024-03-01', '2024-03-31'),
      ),
    );
  });
});

// These depend on the global ValidationPipe and exception filter wired by `setupEdge`.
describe('bad input: 400 naming the field; nothing cached or fetched', () => {
  const cases: Array<[string, () => request.Test, string]> = [
    ['a malformed ticker', () => http().get('/api/stocks/%24%24%24/price'), 'ticker'],
    [
      'a too long ticker',
      () => http().get('/api/stocks/ABCDEFGHIJK/bars?from=2024-01-01&to=2024-01-31'),
      'ticker',
    ],
    [
      'from after to',
      () => http().get('/api/stocks/AAPL/bars?from=2024-02-01&to=2024-01-01'),
      'from',
    ],
    [
      'a range over the maximum',
      () => http().get('/api/stocks/AAPL/bars?from=2000-01-01&to=2024-01-01'),
      'to',
    ],
    [
      'a date that does not exist',
      () => http().get('/api/stocks/AAPL/bars?from=2023-02-29&to=2023-03-31'),
      'from',
    ],
    ['a missing date', () => http().get('/api/stocks/AAPL/bars?from=2024-01-01'), 'to'],
    ['an unknown period', () => http().get('/api/stocks/AAPL/financials?period=weekly'), 'period'],
    [
      'quarterly with FY',
      () => http().get('/api/stocks/AAPL/financials?period=quarterly&quarter=FY'),
      'quarter',
    ],
    [
      'an unknown news category',
      () => http().get('/api/stocks/AAPL/news?category=sports'),
      'category',
    ],
    [
      'an unknown analysis type',
      () => http().get('/api/stocks/AAPL/analysis?type=astrology'),
      'type',
    ],
    [
      'trades without filters',
      () => http().post('/api/trades/query').send({ from: '2024-01-02', to: '2024-01-31' }),
      'filters',
    ],
    [
      'trades with a bad ticker',
      () =>
        http()
          .post('/api/trades/query')
          .send({ filters: { tickers: ['A$PL'] }, from: '2024-01-02', to: '2024-01-31' }),
      'filters.tickers',
    ],
    [
      'trades with no tickers',
      () =>
        http()
          .post('/api/trades/query')
          .send({ filters: { tickers: [] }, from: '2024-01-02', to: '2024-01-31' }),
      'filters.tickers',
    ],
    [
      'trades with an unknown side',
      () =>
        http()
          .post('/api/trades/query')
          .send({
            filters: { tickers: ['AAPL'], side: 'short' },
            from: '2024-01-02',
            to: '2024-01-31',
          }),
      'filters.side',
    ],
    [
      'trades with from after to',
      () =>
        http()
          .post('/api/trades/query')
          .send({ filters: { tickers: ['AAPL'] }, from: '2024-02-02', to: '2024-01-31' }),
      'from',
    ],
    [
      'trades over the maximum range',
      () =>
        http()
          .post('/api/trades/query')
          .send({ filters: { tickers: ['AAPL'] }, from: '2023-01-01', to: '2024-06-30' }),
      'to',
    ],
    [
      'trades with an unknown field',
      () =>
        http()
          .post('/api/trades/query')
          .send({ filters: { tickers: ['AAPL'] }, from: '2024-01-02', to: '2024-01-31', limit: 5 }),
      'limit',
    ],
  ];

  it.each(cases)('rejects %s', async (_label, send, field) => {
    await m.app.get(TieredCache).drain();
    const before = await keysUnder(m.redis, m.prefix);
    const res = await send();
    expect(res.status).toBe(400);
    expect(res.body.field).toBe(field);
    expect(String(res.body.message)).toContain(field);
    expect(Object.values(m.provider.getCallCounts()).every((n) => n === 0)).toBe(true);
    expect(await keysUnder(m.redis, m.prefix)).toEqual(before);
  });
});

describe('OpenAPI', () => {
  it('serves the JSON document with every route, the NDJSON stream included, and the UI', async () => {
    const doc = await http().get('/docs-json').expect(200);
    const paths = doc.body.paths as Record<
      string,
      Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>
    >;
    for (const p of ['price', 'financials', 'news', 'analysis', 'bars'])
      expect(paths[`/api/stocks/{ticker}/${p}`]?.get).toBeDefined();
    const trades = paths['/api/trades/query'].post;
    expect(Object.keys(trades.responses['200'].content ?? {})).toContain('application/x-ndjson');
    expect(doc.body.components.schemas).toHaveProperty('TradesMetaLineDto');
    expect(doc.body.components.schemas).toHaveProperty('TradeLineDto');
    const ui = await http().get('/docs').redirects(1);
    expect(ui.status).toBe(200);
    expect(ui.text).toMatch(/swagger/i);
  });
});
