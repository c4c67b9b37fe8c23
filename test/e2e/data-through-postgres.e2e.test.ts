/**
 * Known versus not yet known (issue 15) on the PostgreSQL source: days after the last day the
 * database holds are not "no trading" — they are answered empty with `X-Data-Through`, never
 * fetched nor cached, and bars loaded later show up once the last day is asked again
 * (`dataThroughCacheMs`, 60 s); a weekend stays cached as empty. Skipped when no PostgreSQL
 * answers, except under CI=true.
 */
import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import request from 'supertest';
import type { PostgresMarketDataProvider } from '../../src/market/providers/postgres.provider.js';
import { dropDatabase, ensureDatabase } from '../../src/market/providers/postgres/database.js';
import { migrate } from '../../src/market/providers/postgres/schema.js';
import { REAL_EXCEPT_DATE } from '../support/fake-time.js';
import {
  PG_SERVER_URL,
  keysUnder,
  probePostgres,
  startMarketApp,
  type MarketApp,
} from './market-e2e-support.js';

const unavailable = probePostgres(PG_SERVER_URL, 'data-through-postgres.e2e');
const describeWithPostgres = unavailable === undefined ? describe : describe.skip;

/** Inserts a bar for every weekday of `[from, to]` (SQL), close = the day of month. */
async function loadBars(pool: Pool, from: string, to: string): Promise<void> {
  await pool.query(
    `INSERT INTO daily_bars (ticker, date, open, high, low, close, volume)
       SELECT 'ACME', d::date, 10, 11, 9, extract(day FROM d), 1000
         FROM generate_series($1::date, $2::date, interval '1 day') AS d
        WHERE extract(isodow FROM d) < 6`,
    [from, to],
  );
}

describeWithPostgres('days the source has not loaded yet (PostgreSQL)', () => {
  const url = new URL(PG_SERVER_URL);
  url.pathname = `/market_cache_through_${randomBytes(4).toString('hex')}`;
  const dbUrl = url.toString();
  let pool: Pool;
  let m: MarketApp<PostgresMarketDataProvider>;
  const http = () => request(m.app.getHttpServer());

  beforeAll(async () => {
    await ensureDatabase(dbUrl);
    pool = new Pool({ connectionString: dbUrl, max: 2 });
    await migrate(pool);
    await pool.query(
      `INSERT INTO tickers (ticker, name, currency, exchange) VALUES ('ACME', 'Acme', 'USD', 'TEST')`,
    );
    // A short history: January to March 2024 only.
    await loadBars(pool, '2024-01-02', '2024-03-28');
    m = await startMarketApp<PostgresMarketDataProvider>({ DATABASE_URL: dbUrl });
  }, 60_000);

  afterAll(async () => {
    jest.useRealTimers();
    await m?.close();
    await pool?.end();
    await dropDatabase(dbUrl);
  }, 30_000);

  it('answers a month not loaded yet empty with X-Data-Through, caches nothing of it, and serves it once it is loaded', async () => {
    const before = await keysUnder(m.redis, m.prefix);
    m.provider.resetCallCounts();
    const early = await http()
      .get('/api/stocks/ACME/bars?from=2024-04-01&to=2024-04-30')
      .expect(200);
    expect(early.body.bars).toEqual([]);
    expect(early.headers['x-data-through']).toBe('2024-03-28');
    expect(m.provider.getCallCounts().getDailyBars).toBe(0);
    const added = (await keysUnder(m.redis, m.prefix)).filter((k) => !before.includes(k));
    expect(added.filter((k) => k.includes('price_bars') && !k.includes('!lock:'))).toEqual([]);

    // A range straddling the last day: its known part is served, the rest is not cached.
    const straddle = await http()
      .get('/api/stocks/ACME/bars?from=2024-03-25&to=2024-04-05')
      .expect(200);
    expect(straddle.body.bars.map((b: { date: string }) => b.date)).toEqual([
      '2024-03-25',
      '2024-03-26',
      '2024-03-27',
      '2024-03-28',
    ]);
    expect(straddle.headers['x-data-through']).toBe('2024-03-28');
    expect(straddle.headers['cache-control']).toMatch(/max-age=([0-5]?\d|60)$/);

    await loadBars(pool, '2024-04-01', '2024-04-30');
    // Within the bound (the last day is asked again after 60 s): the new month shows up.
    jest.useFakeTimers({ doNotFake: [...REAL_EXCEPT_DATE] });
    jest.setSystemTime(Date.now() + 61_000);
    const later = await http()
      .get('/api/stocks/ACME/bars?from=2024-04-01&to=2024-04-30')
      .expect(200);
    expect(later.headers['x-data-through']).toBeUndefined();
    expect(later.body.bars).toHaveLength(22);
    expect(later.body.bars[0]).toMatchObject({ date: '2024-04-01', close: 1 });

    // The weekend in it is a calendar fact: cached as empty, never asked of the source again.
    m.provider.resetCallCounts();
    const weekend = await http()
      .get('/api/stocks/ACME/bars?from=2024-04-06&to=2024-04-07')
      .expect(200);
    expect(weekend.body.bars).toEqual([]);
    expect(weekend.headers['x-cache']).toBe('HIT');
    expect(m.provider.getCallCounts().getDailyBars).toBe(0);
  });
});
