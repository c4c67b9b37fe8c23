/**
 * Bounded growth (issue 12) on the PostgreSQL source: the floor of bars and trades ranges is the
 * ticker's first stored day (`MIN(date)`), so requests for earlier days answer 200 without asking
 * the database for them and without writing any day key. Skipped when no PostgreSQL answers,
 * except under CI=true.
 */
import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import request from 'supertest';
import { daysInMonth, daysOf } from '../../src/cache/index.js';
import type { Trade } from '../../src/market/providers/market-data.provider.js';
import type { PostgresMarketDataProvider } from '../../src/market/providers/postgres.provider.js';
import { dropDatabase, ensureDatabase } from '../../src/market/providers/postgres/database.js';
import { migrate } from '../../src/market/providers/postgres/schema.js';
import { seed } from '../../src/market/providers/postgres/seed.js';
import { addDays } from '../../src/market/providers/trading-calendar.js';
import {
  PG_SERVER_URL,
  keysUnder,
  postTrades,
  probePostgres,
  startMarketApp,
  type MarketApp,
} from './market-e2e-support.js';

const unavailable = probePostgres(PG_SERVER_URL, 'range-floor-postgres.e2e');
const describeWithPostgres = unavailable === undefined ? describe : describe.skip;

/** The `YYYY-MM-DD` day a bars or trades day key stands for (parts keys end in `:{part}`). */
function dayOfKey(key: string): string {
  const m = /:(\d{4}-\d{2}-\d{2})(?::\d+)?$/.exec(key);
  if (!m) throw new Error(`not a day key: ${key}`);
  return m[1];
}

/** The days a bars key holds: its day, or every day of its month (a month bucket, `…:YYYY-MM`). */
function daysOfKey(key: string): string[] {
  const month = /:(\d{4})-(\d{2})$/.exec(key);
  if (!month) return [dayOfKey(key)];
  const last = daysInMonth(Number(month[1]), Number(month[2]));
  return daysOf(`${month[1]}-${month[2]}-01`, `${month[1]}-${month[2]}-${last}`);
}

describeWithPostgres('range floor on the PostgreSQL source (the first stored day)', () => {
  const url = new URL(PG_SERVER_URL);
  url.pathname = `/market_cache_floor_${randomBytes(4).toString('hex')}`;
  const dbUrl = url.toString();
  /** First stored bar day of AAPL and of MSFT. */
  let first: string;
  let firstMsft: string;
  let m: MarketApp<PostgresMarketDataProvider>;
  const http = () => request(m.app.getHttpServer());
  const newKeys = async (before: readonly string[]) => {
    const seen = new Set(before);
    // The anonymous throttle's counter (one per client address, TTL of its window) is not range data.
    return (await keysUnder(m.redis, m.prefix)).filter(
      (k) => !seen.has(k) && !k.includes(':throttle:'),
    );
  };

  beforeAll(async () => {
    await ensureDatabase(dbUrl);
    const pool = new Pool({ connectionString: dbUrl, max: 2 });
    try {
      await migrate(pool);
      await seed(pool, { tickers: 2, years: 0.1, tradesPerTickerDay: 5 });
      const rows = await pool.query<{ ticker: string; first: string }>(
        "SELECT ticker, to_char(MIN(date), 'YYYY-MM-DD') AS first FROM daily_bars GROUP BY ticker",
      );
      const firsts = new Map(rows.rows.map((r) => [r.ticker, r.first]));
      first = firsts.get('AAPL')!;
      firstMsft = firsts.get('MSFT')!;
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

  it('bars wholly before the first stored day: 200, no bars, no key, no bars query', async () => {
    const before = await keysUnder(m.redis, m.prefix);
    for (const [from, to] of [
      ['1100-01-01', '1109-12-31'],
      ['1990-01-01', '1999-12-31'],
      [addDays(first, -300), addDays(first, -1)],
    ]) {
      const res = await http().get(`/api/stocks/AAPL/bars?from=${from}&to=${to}`).expect(200);
      expect(res.body).toMatchObject({ ticker: 'AAPL', from, to, bars: [] });
    }
    expect(await newKeys(before)).toEqual([]);
    expect(m.provider.getCallCounts().getDailyBars).toBe(0);
  });

  it('bars straddling the first stored day write keys only from that day on', async () => {
    // A ticker no other test reads, so no earlier request has cached any of its days.
    const before = await keysUnder(m.redis, m.prefix);
    const to = addDays(firstMsft, 10);
    const res = await http()
      .get(`/api/stocks/MSFT/bars?from=${addDays(firstMsft, -60)}&to=${to}`)
      .expect(200);
    expect(res.body.bars[0].date).toBe(firstMsft);
    // The app's HTTP cache keeps the response too; the range cache's own keys are days, and
    // closed months wholly after the first day once known (their buckets).
    const rangeKeys = (await newKeys(before)).filter((k) => !k.includes(':http:'));
    const covered = rangeKeys.flatMap(daysOfKey).sort();
    expect(covered[0]).toBe(firstMsft);
    expect(daysOf(firstMsft, to).filter((d) => !covered.includes(d))).toEqual([]);
  });

  it('trades before the first stored day are neither fetched nor cached', async () => {
    const before = await keysUnder(m.redis, m.prefix);
    const none = await postTrades(m.app, {
      filters: { tickers: ['AAPL'] },
      from: '1100-01-01',
      to: '1100-12-31',
    });
    expect(none.status).toBe(200);
    expect(none.lines).toHaveLength(1);
    expect(await newKeys(before)).toEqual([]);
    expect(m.provider.getCallCounts().streamTrades).toBe(0);

    const to = addDays(first, 5);
    const res = await postTrades(m.app, {
      filters: { tickers: ['AAPL'] },
      from: addDays(first, -30),
      to,
    });
    expect(res.lines[0]).toMatchObject({ fetched: [[first, to]] });
    const trades = res.lines.slice(1) as unknown as Trade[];
    expect(trades.length).toBeGreaterThan(0);
    expect([...new Set((await newKeys(before)).map(dayOfKey))].sort()).toEqual(daysOf(first, to));
  });
});
