/**
 * The stock-analysis routes end to end on the PostgreSQL source: the same app, switched by
 * DATABASE_URL alone, over a small database (3 tickers × 3 months) this suite creates, seeds
 * and drops. Skipped (with the reason) when no PostgreSQL answers, except under CI=true.
 */
import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import request from 'supertest';
import { computeAnalysis } from '../../src/market/analysis/analysis.js';
import type { DailyBar, Trade } from '../../src/market/providers/market-data.provider.js';
import type { PostgresMarketDataProvider } from '../../src/market/providers/postgres.provider.js';
import { dropDatabase, ensureDatabase } from '../../src/market/providers/postgres/database.js';
import { migrate } from '../../src/market/providers/postgres/schema.js';
import { seed, type SeedResult } from '../../src/market/providers/postgres/seed.js';
import { addDays } from '../../src/market/providers/trading-calendar.js';
import {
  PG_SERVER_URL,
  postTrades,
  probePostgres,
  startMarketApp,
  type MarketApp,
} from './market-e2e-support.js';

const unavailable = probePostgres(PG_SERVER_URL, 'market-postgres.e2e');
const describeWithPostgres = unavailable === undefined ? describe : describe.skip;

async function collect(it: AsyncIterable<Trade>): Promise<Trade[]> {
  const out: Trade[] = [];
  for await (const t of it) out.push(t);
  return out;
}

describeWithPostgres('market routes on the PostgreSQL source', () => {
  const url = new URL(PG_SERVER_URL);
  url.pathname = `/market_cache_e2e_${randomBytes(4).toString('hex')}`;
  const dbUrl = url.toString();
  let seeded: SeedResult;
  let m: MarketApp<PostgresMarketDataProvider>;
  const http = () => request(m.app.getHttpServer());

  beforeAll(async () => {
    await ensureDatabase(dbUrl);
    const pool = new Pool({ connectionString: dbUrl, max: 4 });
    pool.on('error', (e) => expect(e.message).toMatch(/terminat/));
    try {
      await migrate(pool);
      seeded = await seed(pool, { tickers: 3, years: 0.25, tradesPerTickerDay: 10 });
    } finally {
      await pool.end();
    }
    m = await startMarketApp<PostgresMarketDataProvider>({ DATABASE_URL: dbUrl });
  }, 60_000);

  afterAll(async () => {
    await m?.close();
    await dropDatabase(dbUrl);
  }, 30_000);

  beforeEach(() => m.provider.resetCallCounts());

  it('uses the PostgreSQL provider when DATABASE_URL is set', () => {
    expect(m.provider.name).toBe('postgres');
    expect(seeded.tickers).toEqual(['AAPL', 'MSFT', 'GOOGL']);
  });

  it('fetches only the missing days of bars', async () => {
    const a = addDays(seeded.from, 7);
    const b = addDays(seeded.from, 37);
    const c = addDays(seeded.from, 67);
    const first = await http().get(`/api/stocks/MSFT/bars?from=${a}&to=${b}`).expect(200);
    expect(first.headers['x-cache-coverage']).toBe('none');
    expect(m.provider.getCallCounts().getDailyBars).toBe(1);
    const wider = await http().get(`/api/stocks/MSFT/bars?from=${a}&to=${c}`).expect(200);
    expect(wider.headers['x-cache-coverage']).toBe('partial');
    expect(m.provider.getCallCounts().getDailyBars).toBe(2);
    expect(wider.body.bars).toEqual(await m.provider.getDailyBars('MSFT', a, c));
    expect(wider.body.bars.length).toBeGreaterThan(35);
    m.provider.resetCallCounts();
    const inside = await http()
      .get(`/api/stocks/MSFT/bars?from=${addDays(a, 10)}&to=${addDays(c, -10)}`)
      .expect(200);
    expect(inside.headers['x-cache']).toBe('HIT');
    expect(m.provider.getCallCounts().getDailyBars).toBe(0);
    expect(inside.body.bars).toEqual(
      wider.body.bars.filter(
        (x: DailyBar) => x.date >= addDays(a, 10) && x.date <= addDays(c, -10),
      ),
    );
  });

  it('answers price, financials, news and analysis from the database', async () => {
    const price = await http().get('/api/stocks/AAPL/price').expect(200);
    // The same quote; its asOf is when it was taken (the cached one's, never later than now).
    const fresh = await m.provider.getQuote('AAPL');
    expect({ ...price.body.quote, asOf: 'x' }).toEqual({ ...fresh, asOf: 'x' });
    expect(Date.parse(price.body.quote.asOf)).toBeLessThanOrEqual(Date.parse(fresh.asOf));
    const fin = await http().get('/api/stocks/AAPL/financials?period=annual').expect(200);
    expect(fin.body.statement).toEqual(await m.provider.getFinancials('AAPL', 'annual', 'FY'));
    const q = await http().get('/api/stocks/AAPL/financials?quarter=Q2').expect(200);
    expect(q.body).toMatchObject({ period: 'quarterly', quarter: 'Q2' });
    const news = await http().get('/api/stocks/AAPL/news?category=markets').expect(200);
    expect(news.body.items).toEqual(await m.provider.getNews('AAPL', 'markets'));
    const analysis = await http().get('/api/stocks/AAPL/analysis?type=technical').expect(200);
    const bars = await m.provider.getDailyBars('AAPL', analysis.body.from, analysis.body.to);
    expect(bars.length).toBeGreaterThan(40);
    expect(analysis.body.analysis).toEqual(
      JSON.parse(JSON.stringify(computeAnalysis('AAPL', bars, 'technical'))),
    );
    const again = await http().get('/api/stocks/AAPL/analysis?type=technical').expect(200);
    expect(again.headers['x-cache']).toBe('HIT');
    await http().get('/api/stocks/NVDA/price').expect(404);
  });

  it('delta-fetches trades per signature and attaches events from the database', async () => {
    const a = addDays(seeded.from, 7);
    const b = addDays(seeded.from, 20);
    const c = addDays(seeded.from, 34);
    const filters = { tickers: ['GOOGL', 'aapl'] };
    const cold = await postTrades(m.app, { filters, from: a, to: b });
    expect(cold.lines[0]).toMatchObject({ cached: false, fetched: [[a, b]] });
    const wider = await postTrades(m.app, { filters, from: a, to: c, includeEvents: true });
    expect(wider.lines[0]).toMatchObject({
      signature: cold.lines[0].signature,
      cached: 'partial',
      fetched: [[addDays(b, 1), c]],
    });
    expect(m.provider.getCallCounts().streamTrades).toBe(2);
    const expected = await collect(m.provider.streamTrades({ tickers: ['AAPL', 'GOOGL'] }, a, c));
    const trades = wider.lines.slice(1);
    expect(trades.map(({ events: _events, ...t }) => t)).toEqual(expected);
    const events = await m.provider.getTradeEvents(expected.map((t) => t.tradeId));
    expect(trades.map((t) => t.events)).toEqual(expected.map((t) => events.get(t.tradeId)));
    m.provider.resetCallCounts();
    const warm = await postTrades(m.app, { filters, from: a, to: c });
    expect(warm.lines[0]).toMatchObject({ cached: true, fetched: [] });
    expect(m.provider.getCallCounts().streamTrades).toBe(0);
  });
});
