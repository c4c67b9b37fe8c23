/**
 * Market data sources: five years of daily bars for one ticker from the synthetic provider
 * (cached series and cold walk) and from PostgreSQL (a direct query, and the provider).
 * Uses `market_cache_bench` (MARKET_BENCH_DATABASE_URL), seeding a small copy when it is
 * missing or empty; never drops anything. Run alone: `npx tsx bench/market-source.bench.ts`.
 */
import { Pool } from 'pg';
import { measure, runBenchScript, type BenchRow } from './lib.js';
import { PostgresMarketDataProvider } from '../src/market/providers/postgres.provider.js';
import { ensureDatabase } from '../src/market/providers/postgres/database.js';
import { migrate } from '../src/market/providers/postgres/schema.js';
import { seed } from '../src/market/providers/postgres/seed.js';
import { clearSyntheticCaches } from '../src/market/providers/synthetic-data.js';
import { SyntheticMarketDataProvider } from '../src/market/providers/synthetic.provider.js';
import { todayUtcDay } from '../src/cache/index.js';
import { addDays } from '../src/market/providers/trading-calendar.js';

const SECTION = 'bars-source';
const TICKER = 'AAPL';
const BENCH_DB_URL =
  process.env.MARKET_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/market_cache_bench';
const FIVE_YEARS_DAYS = Math.round(5 * 365.25);

/** Times five years of daily bars for one ticker from each source (section `bars-source`). */
export async function runMarketSourceBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const today = todayUtcDay();
  const from = addDays(today, -FIVE_YEARS_DAYS);

  // 1. Synthetic provider: served from the in-memory series, then a cold walk from 2000.
  const synthetic = new SyntheticMarketDataProvider({ today: () => today });
  const barCount = (await synthetic.getDailyBars(TICKER, from, today)).length;
  rows.push({
    ...(await measure(
      SECTION,
      'synthetic provider (series cached)',
      () => synthetic.getDailyBars(TICKER, from, today),
      { ops: 2000 },
    )),
    note: `${barCount} bars`,
  });
  rows.push({
    ...(await measure(
      SECTION,
      'synthetic provider (cold: walk from 2000)',
      () => {
        clearSyntheticCaches();
        return synthetic.getDailyBars(TICKER, from, today);
      },
      { ops: 200 },
    )),
    note: 'series cache cleared before each call',
  });

  // 2. PostgreSQL: the seeded bench database (seeded here when missing or empty).
  let pool: Pool | undefined;
  try {
    await ensureDatabase(BENCH_DB_URL, 2000);
    pool = new Pool({ connectionString: BENCH_DB_URL, max: 8 });
    await migrate(pool);
    const seeded = await pool.query<{ last: string | null }>(
      `SELECT to_char(max(date), 'YYYY-MM-DD') AS last FROM daily_bars WHERE ticker = $1`,
      [TICKER],
    );
    let last = seeded.rows[0]?.last ?? null;
    if (last === null) {
      const result = await seed(pool, {
        tickers: 3,
        years: 5,
        tradesPerTickerDay: 2,
        onProgress: (m) => console.log(`[seed market_cache_bench] ${m}`),
      });
      last = result.to;
    }
    const pgFrom = addDays(last, -FIVE_YEARS_DAYS);
    const sql = `SELECT to_char(date, 'YYYY-MM-DD') AS date, open, high, low, close, volume
                   FROM daily_bars WHERE ticker = $1 AND date BETWEEN $2::date AND $3::date ORDER BY date`;
    const direct = pool;
    const count = (await direct.query(sql, [TICKER, pgFrom, last])).rowCount ?? 0;
    rows.push({
      ...(await measure(
        SECTION,
        'postgres direct query',
        () => direct.query(sql, [TICKER, pgFrom, last]),
        { ops: 500 },
      )),
      note: `${count} rows`,
    });
    rows.push({
      ...(await measure(
        SECTION,
        'postgres direct query, 8 in flight',
        () => direct.query(sql, [TICKER, pgFrom, last]),
        { ops: 800, concurrency: 8 },
      )),
      note: 'pool of 8',
    });
    const provider = new PostgresMarketDataProvider({ pool: direct, today: () => last ?? today });
    rows.push({
      ...(await measure(
        SECTION,
        'postgres provider getDailyBars',
        () => provider.getDailyBars(TICKER, pgFrom, last ?? today),
        { ops: 500 },
      )),
      note: 'mapped to DailyBar',
    });
    await provider.close();
  } catch (err) {
    // The synthetic rows still stand; say why the PostgreSQL rows are missing.
    console.warn(
      `market-source bench: PostgreSQL rows skipped (${err instanceof Error ? err.message : String(err)})`,
    );
  } finally {
    await pool?.end();
  }
  return rows;
}

runBenchScript(import.meta.url, runMarketSourceBench);
