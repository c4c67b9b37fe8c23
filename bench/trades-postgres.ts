/**
 * The PostgreSQL baseline of the `range-trades` bench: the same trades as the cached lines,
 * read from `market_cache_bench` and written as NDJSON, as a deployment without the cache would
 * answer the trades query.
 *
 * The bench database is seeded by the market-source bench with 3 tickers and 2 trades per
 * ticker-day: too few for a month of 25 tickers (≈ 95 000 trades). So the month the cache
 * streams is loaded into a schema of its own (`range_trades_bench`, the provider's tables and
 * indexes from `migrate`), from the same synthetic source, once; the public tables are left as
 * they are. Both readers use the provider's SQL (`TRADE_COLUMNS`, the `(trade_date,
 * executed_at, trade_id)` order): through `PostgresMarketDataProvider.streamTrades` itself (keyset
 * pages of 1000 rows per ticker, merged in order), and as one plain SELECT of the month.
 */
import { createHash } from 'node:crypto';
import { Pool } from 'pg';
import { ensureDatabase } from '../src/market/providers/postgres/database.js';
import {
  TRADE_COLUMNS,
  toTrade,
  type TradeRow,
} from '../src/market/providers/postgres/postgres-queries.js';
import { migrate } from '../src/market/providers/postgres/schema.js';
import { PostgresMarketDataProvider } from '../src/market/providers/postgres.provider.js';
import type { Trade } from '../src/market/providers/market-data.provider.js';
import { tickerProfile } from '../src/market/providers/synthetic/ticker-profiles.js';
import { SyntheticMarketDataProvider } from '../src/market/providers/synthetic.provider.js';
import { tradingDays } from '../src/market/providers/trading-calendar.js';

/** The schema holding the bench month of trades inside `market_cache_bench`. */
export const TRADES_SCHEMA = 'range_trades_bench';
/** Trades per NDJSON chunk, as `TradesService` writes them (`tradesWriteRows`). */
const WRITE_ROWS = 1000;
/** Rows per INSERT while loading the month. */
const LOAD_ROWS = 10_000;

/** Size of an NDJSON answer, as the bench counts it. */
export interface NdjsonSize {
  /** UTF-16 code units (= bytes: the text is ASCII). */
  bytes: number;
  /** Lines (`\n`). */
  lines: number;
}

/** The month of trades the bench streams: tickers, days, trades per ticker-day. */
export interface TradesMonth {
  tickers: string[];
  from: string;
  to: string;
  tradesPerTickerDay: number;
  /** Today's date for the provider (trades after it do not exist). */
  today: string;
}

/** The two PostgreSQL readers of the month, each writing NDJSON text in chunks. */
export interface PostgresTrades {
  /** `PostgresMarketDataProvider.streamTrades` (keyset pages per ticker, merged), as NDJSON chunks. */
  viaProvider(): AsyncGenerator<string, void, undefined>;
  /** One SELECT of the month (`ticker = ANY`, the provider's columns and order), as NDJSON chunks. */
  plainQuery(): AsyncGenerator<string, void, undefined>;
  /** Trades of the month in the schema. */
  count: number;
  close(): Promise<void>;
}

/** Counts the bytes and lines of NDJSON chunks (the same count for every line of the section). */
export async function countNdjson(chunks: AsyncIterable<string>): Promise<NdjsonSize> {
  let bytes = 0;
  let lines = 0;
  for await (const text of chunks) {
    bytes += text.length;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
  }
  return { bytes, lines };
}

/** Length and SHA-256 of NDJSON chunks after the first `skip` chunks (a meta line). */
export async function digestNdjson(
  chunks: AsyncIterable<string>,
  skip: number,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let k = 0;
  for await (const text of chunks) {
    if (k++ < skip) continue;
    bytes += text.length;
    hash.update(text);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** NDJSON chunks of `WRITE_ROWS` trades, as `TradesService` rendered trades objects. */
async function* ndjsonOf(trades: AsyncIterable<Trade> | Iterable<Trade>) {
  let batch: Trade[] = [];
  for await (const t of trades) {
    batch.push(t);
    if (batch.length < WRITE_ROWS) continue;
    yield batch.map((x) => JSON.stringify(x)).join('\n') + '\n';
    batch = [];
  }
  if (batch.length) yield batch.map((x) => JSON.stringify(x)).join('\n') + '\n';
}

/** Loads the month into `TRADES_SCHEMA` unless it already holds exactly its trades. */
async function loadMonth(pool: Pool, month: TradesMonth): Promise<number> {
  const expected =
    month.tickers.length * tradingDays(month.from, month.to).length * month.tradesPerTickerDay;
  const counted = async () =>
    (
      await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM trades WHERE ticker = ANY($1::text[]) AND trade_date BETWEEN $2::date AND $3::date`,
        [month.tickers, month.from, month.to],
      )
    ).rows[0].n;
  if ((await counted()) === expected) return expected;
  await pool.query('TRUNCATE tickers, trades, trade_events');
  for (const t of month.tickers) {
    const p = tickerProfile(t);
    await pool.query('INSERT INTO tickers VALUES ($1, $2, $3, $4)', [
      t,
      p.name,
      p.currency,
      p.exchange,
    ]);
  }
  const source = new SyntheticMarketDataProvider({
    tickers: month.tickers,
    tradesPerTickerDay: month.tradesPerTickerDay,
    today: () => month.today,
  });
  let rows: Trade[] = [];
  const flush = async () => {
    await pool.query(
      `INSERT INTO trades (trade_id, ticker, side, venue, quantity, price, executed_at, trade_date)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::float8[], $7::timestamptz[], $8::date[])`,
      [
        rows.map((r) => r.tradeId),
        rows.map((r) => r.ticker),
        rows.map((r) => r.side),
        rows.map((r) => r.venue),
        rows.map((r) => r.quantity),
        rows.map((r) => r.price),
        rows.map((r) => r.executedAt),
        rows.map((r) => r.tradeDate),
      ],
    );
    rows = [];
  };
  for await (const t of source.streamTrades({ tickers: month.tickers }, month.from, month.to)) {
    rows.push(t);
    if (rows.length >= LOAD_ROWS) await flush();
  }
  if (rows.length) await flush();
  await pool.query('ANALYZE tickers, trades');
  const n = await counted();
  if (n !== expected) throw new Error(`${TRADES_SCHEMA} holds ${n} trades, expected ${expected}`);
  return n;
}

/** Opens (and on first use loads) the month of trades in `market_cache_bench`. */
export async function openPostgresTrades(url: string, month: TradesMonth): Promise<PostgresTrades> {
  await ensureDatabase(url, 2000);
  const admin = new Pool({ connectionString: url, max: 1 });
  try {
    await admin.query(`CREATE SCHEMA IF NOT EXISTS ${TRADES_SCHEMA}`);
  } finally {
    await admin.end();
  }
  const pool = new Pool({
    connectionString: url,
    max: 4,
    options: `-c search_path=${TRADES_SCHEMA}`,
  });
  try {
    await migrate(pool);
    const count = await loadMonth(pool, month);
    const provider = new PostgresMarketDataProvider({ pool, today: () => month.today });
    const plainSql = `SELECT ${TRADE_COLUMNS} FROM trades
       WHERE trade_date BETWEEN $1::date AND $2::date AND ticker = ANY($3::text[])
       ORDER BY trade_date, executed_at, trade_id`;
    return {
      count,
      viaProvider: () =>
        ndjsonOf(provider.streamTrades({ tickers: month.tickers }, month.from, month.to)),
      plainQuery: async function* () {
        const result = await pool.query<TradeRow>(plainSql, [month.from, month.to, month.tickers]);
        yield* ndjsonOf(result.rows.map(toTrade));
      },
      close: () => pool.end(),
    };
  } catch (err) {
    await pool.end();
    throw err;
  }
}
