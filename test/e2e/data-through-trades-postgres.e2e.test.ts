/**
 * Known versus not yet known for trades (issue 15) on the PostgreSQL source: days after the last
 * day the database holds trades for the query's tickers are not "no trades" — the trades query
 * answers them empty with `X-Data-Through` (and `dataThrough` in its meta line), never fetches nor
 * caches them, and trades loaded later show up once the last day is asked again
 * (`dataThroughCacheMs`, 60 s); a weekend inside the known days stays cached as empty. Skipped when
 * no PostgreSQL answers, except under CI=true.
 */
import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import type { PostgresMarketDataProvider } from '../../src/market/providers/postgres.provider.js';
import { dropDatabase, ensureDatabase } from '../../src/market/providers/postgres/database.js';
import { migrate } from '../../src/market/providers/postgres/schema.js';
import { REAL_EXCEPT_DATE } from '../support/fake-time.js';
import {
  PG_SERVER_URL,
  keysUnder,
  postTrades,
  probePostgres,
  startMarketApp,
  type MarketApp,
  type NdjsonAnswer,
} from './market-e2e-support.js';

const unavailable = probePostgres(PG_SERVER_URL, 'data-through-trades-postgres.e2e');
const describeWithPostgres = unavailable === undefined ? describe : describe.skip;

/** Inserts two trades of `ticker` for every weekday of `[from, to]` (SQL). */
async function loadTrades(pool: Pool, ticker: string, from: string, to: string): Promise<void> {
  await pool.query(
    `INSERT INTO trades (trade_id, ticker, side, venue, quantity, price, executed_at, trade_date)
       SELECT 'T-' || $1 || '-' || to_char(d, 'YYYYMMDD') || '-' || n, $1,
              CASE WHEN n = 1 THEN 'buy' ELSE 'sell' END, 'XNYS', 100 * n, 10 + n,
              d + make_interval(hours => 14, secs => n), d::date
         FROM generate_series($2::date, $3::date, interval '1 day') AS d, generate_series(1, 2) AS n
        WHERE extract(isodow FROM d) < 6`,
    [ticker, from, to],
  );
}

/** The trade days of an answer's trade lines (line 1 is the meta line), in order. */
const tradeDays = (a: NdjsonAnswer) => a.lines.slice(1).map((l) => l.tradeDate as string);

describeWithPostgres('trades on days the source has not loaded yet (PostgreSQL)', () => {
  const url = new URL(PG_SERVER_URL);
  url.pathname = `/market_cache_through_trades_${randomBytes(4).toString('hex')}`;
  const dbUrl = url.toString();
  let pool: Pool;
  let m: MarketApp<PostgresMarketDataProvider>;
  const query = (from: string, to: string, tickers = ['ACME']) =>
    postTrades(m.app, { filters: { tickers }, from, to });
  /** Trade day keys under the app's prefix (no locks), e.g. `…:trades:{signature}:2024-03-11`. */
  const tradeDayKeys = async () =>
    (await keysUnder(m.redis, m.prefix)).filter((k) => k.includes(':trades:') && !k.includes('!'));

  beforeAll(async () => {
    await ensureDatabase(dbUrl);
    pool = new Pool({ connectionString: dbUrl, max: 2 });
    await migrate(pool);
    await pool.query(
      `INSERT INTO tickers (ticker, name, currency, exchange)
         VALUES ('ACME', 'Acme', 'USD', 'TEST'), ('OLDCO', 'Old Co', 'USD', 'TEST')`,
    );
    // A short history: ACME's trades of 4 to 13 March 2024 only (a weekend inside); OLDCO stopped
    // trading in 2023.
    await loadTrades(pool, 'ACME', '2024-03-04', '2024-03-13');
    await loadTrades(pool, 'OLDCO', '2023-06-01', '2023-06-02');
    m = await startMarketApp<PostgresMarketDataProvider>({ DATABASE_URL: dbUrl });
  }, 60_000);

  afterAll(async () => {
    jest.useRealTimers();
    await m?.close();
    await pool?.end();
    await dropDatabase(dbUrl);
  }, 30_000);

  it('answers days not loaded yet empty with X-Data-Through, caches none of them, and serves them once loaded', async () => {
    // 1. A later range: nothing known yet. Not fetched, not cached, and said so.
    m.provider.resetCallCounts();
    const early = await query('2024-03-14', '2024-03-22');
    expect(early.status).toBe(200);
    expect(early.headers['x-data-through']).toBe('2024-03-13');
    expect(early.lines[0]).toMatchObject({ dataThrough: '2024-03-13', fetched: [] });
    expect(tradeDays(early)).toEqual([]);
    expect(m.provider.getCallCounts().streamTrades ?? 0).toBe(0);
    expect(await tradeDayKeys()).toEqual([]);

    // 2. A range straddling the last day: its known days are served (and cached), the rest not.
    const straddle = await query('2024-03-11', '2024-03-15');
    expect(straddle.headers['x-data-through']).toBe('2024-03-13');
    expect(straddle.lines[0]).toMatchObject({ fetched: [['2024-03-11', '2024-03-13']] });
    expect(tradeDays(straddle)).toEqual([11, 11, 12, 12, 13, 13].map((d) => `2024-03-${d}`));
    const cachedDays = new Set((await tradeDayKeys()).map((k) => /\d{4}-\d\d-\d\d/.exec(k)?.[0]));
    expect([...cachedDays].sort()).toEqual(['2024-03-11', '2024-03-12', '2024-03-13']);

    // 3. A query of several tickers goes as far as the latest of their last days (OLDCO's 2023
    //    does not hide ACME's March).
    const both = await query('2024-03-12', '2024-03-15', ['OLDCO', 'ACME']);
    expect(both.headers['x-data-through']).toBe('2024-03-13');
    expect(tradeDays(both)).toEqual([12, 12, 13, 13].map((d) => `2024-03-${d}`));

    // 4. The days are loaded. Until the last day is asked again (60 s) the answer stays as it
    //    was; after it, the new trades show up: nothing was cached as empty meanwhile.
    await loadTrades(pool, 'ACME', '2024-03-14', '2024-03-22');
    expect((await query('2024-03-14', '2024-03-22')).headers['x-data-through']).toBe('2024-03-13');
    jest.useFakeTimers({ doNotFake: [...REAL_EXCEPT_DATE] });
    jest.setSystemTime(Date.now() + 61_000);
    m.provider.resetCallCounts();
    const later = await query('2024-03-14', '2024-03-22');
    expect(later.headers['x-data-through']).toBeUndefined();
    expect(later.lines[0]).not.toHaveProperty('dataThrough');
    expect(later.lines[0]).toMatchObject({
      cached: false,
      fetched: [['2024-03-14', '2024-03-22']],
    });
    expect(tradeDays(later)).toHaveLength(7 * 2);
    expect(tradeDays(later)[0]).toBe('2024-03-14');
    expect(m.provider.getCallCounts().streamTrades).toBe(1);
  });

  it('caches a weekend inside the known days as empty: asked of the source once, then served from the cache', async () => {
    m.provider.resetCallCounts();
    const first = await query('2024-03-09', '2024-03-10');
    expect(first.headers['x-data-through']).toBeUndefined();
    expect(tradeDays(first)).toEqual([]);
    expect(m.provider.getCallCounts().streamTrades).toBe(1);
    const again = await query('2024-03-09', '2024-03-10');
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.lines[0]).toMatchObject({ cached: true, fetched: [] });
    expect(tradeDays(again)).toEqual([]);
    expect(m.provider.getCallCounts().streamTrades).toBe(1);
    // Cached for long (a closed day's TTL), not for the data-through bound.
    const weekendKey = (await tradeDayKeys()).find((k) => k.endsWith(':2024-03-09'));
    expect(weekendKey).toBeDefined();
    expect(await m.redis.pttl(weekendKey!)).toBeGreaterThan(24 * 3600 * 1000);
  });
});
