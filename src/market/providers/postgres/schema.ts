/** Schema of the PostgreSQL market-data source; `migrate` is idempotent and safe to run concurrently. */
import type { Pool } from 'pg';

/** Advisory-lock key serializing concurrent migrations. */
const MIGRATION_LOCK_KEY = 74_201_001;

/**
 * Tables. Text keys use the "C" collation so that ORDER BY matches JavaScript string order
 * (the synthetic provider's order). Money amounts are bigint (currency units), prices float8.
 */
export const TABLES_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS tickers (
     ticker   text COLLATE "C" PRIMARY KEY,
     name     text NOT NULL,
     currency text NOT NULL,
     exchange text NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS daily_bars (
     ticker text COLLATE "C" NOT NULL,
     date   date NOT NULL,
     open   double precision NOT NULL,
     high   double precision NOT NULL,
     low    double precision NOT NULL,
     close  double precision NOT NULL,
     volume bigint NOT NULL,
     PRIMARY KEY (ticker, date)
   )`,
  `CREATE TABLE IF NOT EXISTS financials (
     ticker              text COLLATE "C" NOT NULL,
     period              text NOT NULL CHECK (period IN ('quarterly', 'annual')),
     quarter             text NOT NULL CHECK (quarter IN ('Q1', 'Q2', 'Q3', 'Q4', 'FY')),
     fiscal_year         integer NOT NULL,
     revenue             bigint NOT NULL,
     operating_income    bigint NOT NULL,
     net_income          bigint NOT NULL,
     eps                 double precision NOT NULL,
     total_assets        bigint NOT NULL,
     total_liabilities   bigint NOT NULL,
     operating_cash_flow bigint NOT NULL,
     currency            text NOT NULL,
     as_of               timestamptz NOT NULL,
     PRIMARY KEY (ticker, period, quarter, fiscal_year)
   )`,
  `CREATE TABLE IF NOT EXISTS news (
     id           text COLLATE "C" PRIMARY KEY,
     ticker       text COLLATE "C" NOT NULL,
     category     text NOT NULL CHECK (category IN ('earnings', 'markets', 'analyst', 'general')),
     headline     text NOT NULL,
     summary      text NOT NULL,
     source       text NOT NULL,
     published_at timestamptz NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS trades (
     trade_id    text COLLATE "C" PRIMARY KEY,
     ticker      text COLLATE "C" NOT NULL,
     side        text NOT NULL CHECK (side IN ('buy', 'sell')),
     venue       text NOT NULL,
     quantity    integer NOT NULL,
     price       double precision NOT NULL,
     executed_at timestamptz NOT NULL,
     trade_date  date NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS trade_events (
     trade_id text COLLATE "C" NOT NULL,
     type     text NOT NULL CHECK (type IN ('confirmation', 'settlement', 'amendment')),
     at       timestamptz NOT NULL,
     status   text NOT NULL,
     PRIMARY KEY (trade_id, at, type)
   )`,
];

/**
 * Secondary indexes, each fitting one provider query:
 * news by (ticker, category) newest first; trades in stream order across all tickers;
 * trades in stream order per ticker (keyset pages when tickers are filtered).
 * trade_events are found by their primary key, whose first column is trade_id.
 */
export const INDEXES_SQL: Readonly<Record<string, string>> = {
  news_ticker_category_published_idx:
    'CREATE INDEX IF NOT EXISTS news_ticker_category_published_idx ON news (ticker, category, published_at DESC, id DESC)',
  trades_order_idx:
    'CREATE INDEX IF NOT EXISTS trades_order_idx ON trades (trade_date, executed_at, trade_id)',
  trades_ticker_order_idx:
    'CREATE INDEX IF NOT EXISTS trades_ticker_order_idx ON trades (ticker, trade_date, executed_at, trade_id)',
};

/** Creates every table and index that is missing (CREATE ... IF NOT EXISTS, under an advisory lock). */
export async function migrate(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    for (const sql of TABLES_SQL) await client.query(sql);
    for (const sql of Object.values(INDEXES_SQL)) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
      // The original error matters more; keep the rollback failure attached to it.
      (err as { rollbackError?: unknown }).rollbackError = rollbackErr;
    });
    throw err;
  } finally {
    client.release();
  }
}

/** Drops the secondary indexes (before a bulk load); `migrate` creates them again. */
export async function dropSecondaryIndexes(pool: Pool): Promise<void> {
  for (const name of Object.keys(INDEXES_SQL)) await pool.query(`DROP INDEX IF EXISTS ${name}`);
}
