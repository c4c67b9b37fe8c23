import { Pool, type PoolConfig, type QueryResultRow } from 'pg';
import { MarketDataError } from './market-data.errors.js';
import type {
  DailyBar,
  FinancialPeriod,
  FinancialStatement,
  FiscalQuarter,
  MarketDataProvider,
  NewsCategory,
  NewsItem,
  Quote,
  Trade,
  TradeEvent,
  TradeFilters,
} from './market-data.provider.js';
import {
  NEWS_LIMIT,
  NEWS_LOOKBACK_DAYS,
  compareTrades,
  normalizePeriod,
  quoteFromBars,
} from './synthetic-data.js';
import { addDays, todayUtc } from './trading-calendar.js';
import {
  CallCounter,
  normalizeTicker,
  validateFilters,
  validateRange,
} from './provider-support.js';

/** Options of the PostgreSQL provider. */
export interface PostgresProviderOptions {
  /** Connection string. Default: `process.env.DATABASE_URL`. Ignored when `pool` is given. */
  connectionString?: string;
  /** A pool to use instead of creating one; `close()` leaves it open. */
  pool?: Pool;
  /** Rows fetched per keyset page when streaming trades. Default 1000. */
  pageSize?: number;
  /** Server-side statement timeout per query, in milliseconds. Default 10000. */
  queryTimeoutMs?: number;
  /** Time allowed to open a connection, in milliseconds. Default 5000. */
  connectTimeoutMs?: number;
  /** Maximum connections of the pool the provider creates. Default 10. */
  maxConnections?: number;
  /** Today's date (`YYYY-MM-DD`, UTC); nothing after it is answered. Default: the system clock. */
  today?: () => string;
}

const TRADE_COLUMNS = `trade_id, ticker, side, venue, quantity, price, executed_at, to_char(trade_date, 'YYYY-MM-DD') AS trade_date`;
const BAR_COLUMNS = `to_char(date, 'YYYY-MM-DD') AS date, open, high, low, close, volume`;
/** Most trade ids per events query. */
const EVENT_IDS_PER_QUERY = 1000;

interface TradeRow {
  trade_id: string;
  ticker: string;
  side: 'buy' | 'sell';
  venue: string;
  quantity: number;
  price: number;
  executed_at: Date;
  trade_date: string;
}

/** pg error codes that mean "the source is not reachable right now". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '3D000',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/**
 * Market data from a PostgreSQL database (schema in `postgres/schema.ts`, loaded by
 * `postgres/seed.ts`). Every query goes through one guarded path that maps driver errors to
 * `MarketDataError` (`SOURCE_UNAVAILABLE`, `SOURCE_TIMEOUT`); trades stream by keyset pages.
 */
export class PostgresMarketDataProvider implements MarketDataProvider {
  /** Which implementation this is. */
  readonly name = 'postgres' as const;
  private readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly pageSize: number;
  private readonly today: () => string;
  private readonly counter = new CallCounter();
  private poolErrors = 0;

  constructor(options: PostgresProviderOptions = {}) {
    this.pageSize = Math.max(1, Math.floor(options.pageSize ?? 1000));
    this.today = options.today ?? todayUtc;
    if (options.pool) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      const connectionString = options.connectionString ?? process.env.DATABASE_URL;
      if (!connectionString)
        throw MarketDataError.invalidArgument(
          'connectionString',
          'no connection string given and DATABASE_URL is not set',
        );
      const config: PoolConfig = {
        connectionString,
        max: options.maxConnections ?? 10,
        connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
        statement_timeout: options.queryTimeoutMs ?? 10_000,
      };
      this.pool = new Pool(config);
      this.ownsPool = true;
      // An idle client losing its connection must not crash the process; the next query reports it.
      this.pool.on('error', () => {
        this.poolErrors++;
      });
    }
  }

  /** Errors raised by idle pooled connections since creation. */
  get idleConnectionErrors(): number {
    return this.poolErrors;
  }

  /** True when the `tickers` table holds `ticker` (case-insensitive). */
  async hasTicker(ticker: string): Promise<boolean> {
    this.counter.add('hasTicker');
    return this.tickerExists(normalizeTicker(ticker));
  }

  /** Every ticker of the `tickers` table, sorted. */
  async listTickers(): Promise<string[]> {
    this.counter.add('listTickers');
    const rows = await this.query<{ ticker: string }>('SELECT ticker FROM tickers ORDER BY ticker');
    return rows.map((r) => r.ticker);
  }

  /** Quote from the latest stored bar on or before today. */
  async getQuote(ticker: string): Promise<Quote> {
    this.counter.add('getQuote');
    const t = normalizeTicker(ticker);
    const rows = await this.query<{
      currency: string;
      date: string | null;
      open: number;
      high: number;
      low: number;
      close: number;
      volume: string;
    }>(
      `SELECT t.currency, b.date, b.open, b.high, b.low, b.close, b.volume
         FROM tickers t
         LEFT JOIN LATERAL (
           SELECT ${BAR_COLUMNS} FROM daily_bars
            WHERE ticker = t.ticker AND date <= $2::date
            ORDER BY date DESC LIMIT 2
         ) b ON true
        WHERE t.ticker = $1
        ORDER BY b.date`,
      [t, this.today()],
    );
    if (rows.length === 0) throw MarketDataError.unknownTicker(ticker);
    if (rows[0].date === null)
      throw new MarketDataError('NOT_FOUND', `no bar for ${t} on or before ${this.today()}`);
    const bars = rows.map(toBar);
    return quoteFromBars(
      t,
      rows[0].currency,
      bars[bars.length - 1],
      bars.length > 1 ? bars[0] : undefined,
    );
  }

  /** Latest stored statement of the period/quarter published on or before today. */
  async getFinancials(
    ticker: string,
    period: FinancialPeriod,
    quarter: FiscalQuarter,
  ): Promise<FinancialStatement> {
    this.counter.add('getFinancials');
    const t = normalizeTicker(ticker);
    const q = normalizePeriod(period, quarter);
    if (!q)
      throw MarketDataError.invalidArgument('quarter', 'quarterly statements take Q1..Q4, not FY');
    const rows = await this.query<{
      fiscal_year: number;
      revenue: string;
      operating_income: string;
      net_income: string;
      eps: number;
      total_assets: string;
      total_liabilities: string;
      operating_cash_flow: string;
      currency: string;
      as_of: Date;
    }>(
      `SELECT fiscal_year, revenue, operating_income, net_income, eps, total_assets, total_liabilities,
              operating_cash_flow, currency, as_of
         FROM financials
        WHERE ticker = $1 AND period = $2 AND quarter = $3 AND as_of < $4::timestamptz
        ORDER BY fiscal_year DESC LIMIT 1`,
      [t, period, q, `${addDays(this.today(), 1)}T00:00:00.000Z`],
    );
    const r = rows[0];
    if (!r) {
      if (!(await this.tickerExists(t))) throw MarketDataError.unknownTicker(ticker);
      throw new MarketDataError('NOT_FOUND', `no ${period} ${q} statement stored for ${t}`);
    }
    return {
      ticker: t,
      period,
      quarter: q,
      fiscalYear: r.fiscal_year,
      revenue: Number(r.revenue),
      operatingIncome: Number(r.operating_income),
      netIncome: Number(r.net_income),
      eps: r.eps,
      totalAssets: Number(r.total_assets),
      totalLiabilities: Number(r.total_liabilities),
      operatingCashFlow: Number(r.operating_cash_flow),
      currency: r.currency,
      asOf: r.as_of.toISOString(),
    };
  }

  /** Up to 10 stored items of the category from the last two years, newest first. */
  async getNews(ticker: string, category: NewsCategory): Promise<NewsItem[]> {
    this.counter.add('getNews');
    const t = normalizeTicker(ticker);
    const today = this.today();
    const rows = await this.query<{
      id: string;
      category: NewsCategory;
      headline: string;
      summary: string;
      source: string;
      published_at: Date;
    }>(
      `SELECT id, category, headline, summary, source, published_at
         FROM news
        WHERE ticker = $1 AND category = $2 AND published_at >= $3::timestamptz AND published_at < $4::timestamptz
        ORDER BY published_at DESC, id DESC
        LIMIT $5`,
      [
        t,
        category,
        `${addDays(today, -NEWS_LOOKBACK_DAYS)}T00:00:00.000Z`,
        `${addDays(today, 1)}T00:00:00.000Z`,
        NEWS_LIMIT,
      ],
    );
    if (rows.length === 0 && !(await this.tickerExists(t)))
      throw MarketDataError.unknownTicker(ticker);
    return rows.map((r) => ({
      id: r.id,
      ticker: t,
      category: r.category,
      headline: r.headline,
      summary: r.summary,
      source: r.source,
      publishedAt: r.published_at.toISOString(),
    }));
  }

  /** Stored bars of `[from, to]` up to today, in date order. */
  async getDailyBars(ticker: string, from: string, to: string): Promise<DailyBar[]> {
    this.counter.add('getDailyBars');
    const t = normalizeTicker(ticker);
    validateRange(from, to);
    const today = this.today();
    const rows = await this.query<{
      date: string;
      open: number;
      high: number;
      low: number;
      close: number;
      volume: string;
    }>(
      `SELECT ${BAR_COLUMNS} FROM daily_bars WHERE ticker = $1 AND date BETWEEN $2::date AND $3::date ORDER BY date`,
      [t, from, to < today ? to : today],
    );
    if (rows.length === 0 && !(await this.tickerExists(t)))
      throw MarketDataError.unknownTicker(ticker);
    return rows.map(toBar);
  }

  /**
   * Trades of `[from, to]` (up to today) by keyset pages of `pageSize` rows on
   * (trade_date, executed_at, trade_id). With a tickers filter each ticker is paged on its own
   * index and the pages are merged, so memory holds at most one page per ticker.
   */
  streamTrades(filters: TradeFilters, from: string, to: string): AsyncIterable<Trade> {
    this.counter.add('streamTrades');
    return this.generateTrades(filters, from, to);
  }

  /** Stored events of each known trade id, ordered by time; unknown ids are absent. */
  async getTradeEvents(tradeIds: string[]): Promise<Map<string, TradeEvent[]>> {
    this.counter.add('getTradeEvents');
    const ids = [...new Set(tradeIds)];
    const out = new Map<string, TradeEvent[]>();
    for (let i = 0; i < ids.length; i += EVENT_IDS_PER_QUERY) {
      const rows = await this.query<{
        trade_id: string;
        type: TradeEvent['type'];
        at: Date;
        status: string;
      }>(
        'SELECT trade_id, type, at, status FROM trade_events WHERE trade_id = ANY($1::text[]) ORDER BY trade_id, at, type',
        [ids.slice(i, i + EVENT_IDS_PER_QUERY)],
      );
      for (const r of rows) {
        const list = out.get(r.trade_id) ?? [];
        list.push({ tradeId: r.trade_id, type: r.type, at: r.at.toISOString(), status: r.status });
        out.set(r.trade_id, list);
      }
    }
    return out;
  }

  /** Calls made to each data method since creation or the last reset. */
  getCallCounts(): Record<string, number> {
    return this.counter.snapshot();
  }

  /** Sets every call counter back to zero. */
  resetCallCounts(): void {
    this.counter.reset();
  }

  /** Ends the pool if the provider created it. */
  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }

  private async *generateTrades(
    filters: TradeFilters,
    from: string,
    to: string,
  ): AsyncGenerator<Trade> {
    validateRange(from, to);
    validateFilters(filters);
    const today = this.today();
    const last = to < today ? to : today;
    if (from > last) return;
    if (!filters.tickers) {
      yield* this.pageTrades(undefined, filters, from, last);
      return;
    }
    const tickers = [...new Set(filters.tickers.map(normalizeTicker))].sort();
    if (tickers.length === 0) return;
    const known = await this.query<{ ticker: string }>(
      'SELECT ticker FROM tickers WHERE ticker = ANY($1::text[])',
      [tickers],
    );
    const knownSet = new Set(known.map((r) => r.ticker));
    const missing = tickers.find((t) => !knownSet.has(t));
    if (missing !== undefined) throw MarketDataError.unknownTicker(missing);
    if (tickers.length === 1) {
      yield* this.pageTrades(tickers[0], filters, from, last);
      return;
    }
    yield* mergeOrdered(tickers.map((t) => this.pageTrades(t, filters, from, last)));
  }

  /** Keyset pages of one ticker's trades (or all tickers' when `ticker` is undefined). */
  private async *pageTrades(
    ticker: string | undefined,
    filters: TradeFilters,
    from: string,
    to: string,
  ): AsyncGenerator<Trade> {
    const where = ['trade_date BETWEEN $1::date AND $2::date'];
    const params: unknown[] = [from, to];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (ticker !== undefined) add('ticker = ?', ticker);
    if (filters.side !== undefined) add('side = ?', filters.side);
    if (filters.venue !== undefined) add('venue = ?', filters.venue);
    if (filters.minQuantity !== undefined) add('quantity >= ?', filters.minQuantity);
    const base = where.join(' AND ');
    const n = params.length;
    const firstPage = `SELECT ${TRADE_COLUMNS} FROM trades WHERE ${base} ORDER BY trade_date, executed_at, trade_id LIMIT ${this.pageSize}`;
    const nextPage = `SELECT ${TRADE_COLUMNS} FROM trades WHERE ${base}
        AND (trade_date, executed_at, trade_id) > ($${n + 1}::date, $${n + 2}::timestamptz, $${n + 3}::text)
      ORDER BY trade_date, executed_at, trade_id LIMIT ${this.pageSize}`;
    let after: Trade | undefined;
    for (;;) {
      const rows = after
        ? await this.query<TradeRow>(nextPage, [
            ...params,
            after.tradeDate,
            after.executedAt,
            after.tradeId,
          ])
        : await this.query<TradeRow>(firstPage, params);
      for (const r of rows) {
        after = {
          tradeId: r.trade_id,
          ticker: r.ticker,
          side: r.side,
          venue: r.venue,
          quantity: r.quantity,
          price: r.price,
          executedAt: r.executed_at.toISOString(),
          tradeDate: r.trade_date,
        };
        yield after;
      }
      if (rows.length < this.pageSize) return;
    }
  }

  private async tickerExists(ticker: string): Promise<boolean> {
    const rows = await this.query<{ found: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM tickers WHERE ticker = $1) AS found',
      [ticker],
    );
    return rows[0]?.found === true;
  }

  /** The one guarded path to the database: maps driver failures to `MarketDataError`. */
  private async query<R extends QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      const result = await this.pool.query<R>(sql, params);
      return result.rows;
    } catch (err) {
      throw toMarketDataError(err);
    }
  }
}

function toBar(r: {
  date: string | null;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: string;
}): DailyBar {
  return {
    date: r.date ?? '',
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: Number(r.volume),
  };
}

/** Maps a pg / network error to `SOURCE_TIMEOUT`, `SOURCE_UNAVAILABLE`, or keeps a `MarketDataError`. */
export function toMarketDataError(err: unknown): MarketDataError {
  if (err instanceof MarketDataError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === '57014' || /timeout/i.test(message)) {
    return new MarketDataError('SOURCE_TIMEOUT', `PostgreSQL source timed out: ${message}`, {
      cause: err,
    });
  }
  if (
    (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) ||
    /terminat|connect/i.test(message)
  ) {
    return new MarketDataError('SOURCE_UNAVAILABLE', `PostgreSQL source unavailable: ${message}`, {
      cause: err,
    });
  }
  return new MarketDataError('SOURCE_UNAVAILABLE', `PostgreSQL source query failed: ${message}`, {
    cause: err,
  });
}

/** Merges iterators that each yield trades in `compareTrades` order into one ordered stream. */
async function* mergeOrdered(sources: AsyncIterator<Trade>[]): AsyncGenerator<Trade> {
  const heads: Array<Trade | undefined> = await Promise.all(
    sources.map(async (s) => (await s.next()).value as Trade | undefined),
  );
  try {
    for (;;) {
      let min = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h !== undefined && (min < 0 || compareTrades(h, heads[min] as Trade) < 0)) min = i;
      }
      if (min < 0) return;
      yield heads[min] as Trade;
      const next = await sources[min].next();
      heads[min] = next.done ? undefined : next.value;
    }
  } finally {
    await Promise.all(sources.map((s) => s.return?.()));
  }
}
