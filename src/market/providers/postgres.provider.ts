import type { Pool, QueryResultRow } from 'pg';
import { todayUtcDay } from '../../cache/index.js';
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
  SourceHealth,
  Trade,
  TradeEvent,
  TradeFilters,
} from './market-data.provider.js';
import { toMarketDataError } from './postgres/postgres-errors.js';
import { PostgresConnector, pingPostgres } from './postgres/postgres-health.js';
import { openProviderPool, type PostgresProviderOptions } from './postgres/postgres-pool.js';
import {
  BARS_SQL,
  FIRST_DAYS_SQL,
  LAST_BAR_DAYS_SQL,
  LAST_TRADE_DAYS_SQL,
  FINANCIALS_SQL,
  KNOWN_TICKERS_SQL,
  NEWS_SQL,
  QUOTE_SQL,
  TICKERS_SQL,
  TICKER_EXISTS_SQL,
  TRADE_EVENTS_SQL,
  toBar,
  toNewsItem,
  toStatement,
  toTradeEvent,
  type BarRow,
  type FinancialsRow,
  type NewsRow,
  type QuoteRow,
  type TradeEventRow,
} from './postgres/postgres-queries.js';
import { mergeOrdered, pageTrades, type QueryRows } from './postgres/trade-pages.js';
import {
  CallCounter,
  normalizeTicker,
  validateFilters,
  validateRange,
} from './provider-support.js';
import {
  NEWS_LIMIT,
  NEWS_LOOKBACK_DAYS,
  normalizePeriod,
  quoteFromBars,
} from './synthetic-data.js';
import { addDays } from './trading-calendar.js';

export { toMarketDataError } from './postgres/postgres-errors.js';
export type { PostgresProviderOptions } from './postgres/postgres-pool.js';

/** Most trade ids per events query. */
const EVENT_IDS_PER_QUERY = 1000;

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
  /** Set by `start`: the schema migrated, retried in the background while the database is out of reach. */
  private connector: PostgresConnector | undefined;

  constructor(options: PostgresProviderOptions = {}) {
    this.pageSize = Math.max(1, Math.floor(options.pageSize ?? 1000));
    this.today = options.today ?? todayUtcDay;
    const { pool, owned } = openProviderPool(options, () => {
      this.poolErrors++;
    });
    this.pool = pool;
    this.ownsPool = owned;
  }

  /**
   * Migrates the schema now; when the database cannot be reached (or used), keeps retrying in the
   * background with back-off from 0.5 s, doubling, capped at `retryMaxMs` milliseconds, and
   * `health` says `down` with the reason until it succeeds. Resolves true when the schema is ready
   * now; never throws. Queries before then fail with `SOURCE_UNAVAILABLE`.
   */
  start(retryMaxMs = 30_000): Promise<boolean> {
    this.connector ??= new PostgresConnector(this.pool, retryMaxMs);
    return this.connector.start();
  }

  /**
   * `SELECT 1 FROM tickers LIMIT 1` within `timeoutMs` ms: `up` with the round trip, or `down` with
   * the reason (no host names). While `start` has not got the schema in place, `down` without a
   * query; a missing schema found here makes it migrate again. Never throws; not counted.
   */
  health(timeoutMs: number): Promise<SourceHealth> {
    const connector = this.connector;
    if (connector && !connector.ready)
      return Promise.resolve({ status: 'down', reason: connector.reason });
    return pingPostgres(this.pool, timeoutMs, () => connector?.restart());
  }

  /** Errors raised by idle pooled connections since creation. */
  get idleConnectionErrors(): number {
    return this.poolErrors;
  }

  /** First day with a bar or a trade of each ticker (one query; tickers without data absent). */
  async firstDays(tickers: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (tickers.length === 0) return out;
    const rows = await this.query<{ ticker: string; first: string | null }>(FIRST_DAYS_SQL, [
      tickers,
    ]);
    for (const r of rows) if (r.first) out.set(r.ticker, r.first);
    return out;
  }

  /** Last day with a stored bar of each ticker (one query; tickers without bars absent). */
  async lastBarDays(tickers: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (tickers.length === 0) return out;
    const rows = await this.query<{ ticker: string; last: string | null }>(LAST_BAR_DAYS_SQL, [
      tickers,
    ]);
    for (const r of rows) if (r.last) out.set(r.ticker, r.last);
    return out;
  }

  /** Last day with a stored trade of each ticker (one query; tickers without trades absent). */
  async lastTradeDays(tickers: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (tickers.length === 0) return out;
    const rows = await this.query<{ ticker: string; last: string | null }>(LAST_TRADE_DAYS_SQL, [
      tickers,
    ]);
    for (const r of rows) if (r.last) out.set(r.ticker, r.last);
    return out;
  }

  /** True when the `tickers` table holds `ticker` (case-insensitive). */
  async hasTicker(ticker: string): Promise<boolean> {
    this.counter.add('hasTicker');
    return this.tickerExists(normalizeTicker(ticker));
  }

  /** Every ticker of the `tickers` table, sorted. */
  async listTickers(): Promise<string[]> {
    this.counter.add('listTickers');
    const rows = await this.query<{ ticker: string }>(TICKERS_SQL);
    return rows.map((r) => r.ticker);
  }

  /** Quote from the latest stored bar on or before today. */
  async getQuote(ticker: string): Promise<Quote> {
    this.counter.add('getQuote');
    const t = normalizeTicker(ticker);
    const rows = await this.query<QuoteRow>(QUOTE_SQL, [t, this.today()]);
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
    const rows = await this.query<FinancialsRow>(FINANCIALS_SQL, [
      t,
      period,
      q,
      `${addDays(this.today(), 1)}T00:00:00.000Z`,
    ]);
    const r = rows[0];
    if (!r) {
      if (!(await this.tickerExists(t))) throw MarketDataError.unknownTicker(ticker);
      throw new MarketDataError('NOT_FOUND', `no ${period} ${q} statement stored for ${t}`);
    }
    return toStatement(t, period, q, r);
  }

  /** Up to 10 stored items of the category from the last two years, newest first. */
  async getNews(ticker: string, category: NewsCategory): Promise<NewsItem[]> {
    this.counter.add('getNews');
    const t = normalizeTicker(ticker);
    const today = this.today();
    const rows = await this.query<NewsRow>(NEWS_SQL, [
      t,
      category,
      `${addDays(today, -NEWS_LOOKBACK_DAYS)}T00:00:00.000Z`,
      `${addDays(today, 1)}T00:00:00.000Z`,
      NEWS_LIMIT,
    ]);
    if (rows.length === 0 && !(await this.tickerExists(t)))
      throw MarketDataError.unknownTicker(ticker);
    return rows.map((r) => toNewsItem(t, r));
  }

  /** Stored bars of `[from, to]` up to today, in date order. */
  async getDailyBars(ticker: string, from: string, to: string): Promise<DailyBar[]> {
    this.counter.add('getDailyBars');
    const t = normalizeTicker(ticker);
    validateRange(from, to);
    const today = this.today();
    const rows = await this.query<BarRow>(BARS_SQL, [t, from, to < today ? to : today]);
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
      const rows = await this.query<TradeEventRow>(TRADE_EVENTS_SQL, [
        ids.slice(i, i + EVENT_IDS_PER_QUERY),
      ]);
      for (const r of rows) {
        const list = out.get(r.trade_id) ?? [];
        list.push(toTradeEvent(r));
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

  /** Stops the background schema retries, and ends the pool if the provider created it. */
  async close(): Promise<void> {
    this.connector?.close();
    if (this.ownsPool) await this.pool.end();
  }

  private async *generateTrades(
    filters: TradeFilters,
    from: string,
    to: string,
  ): AsyncGenerator<Trade> {
    // 1. Arguments, and the range clipped to today.
    validateRange(from, to);
    validateFilters(filters);
    const today = this.today();
    const last = to < today ? to : today;
    if (from > last) return;
    const query: QueryRows = (sql, params) => this.query(sql, params);
    const page = (ticker: string | undefined) =>
      pageTrades(query, this.pageSize, ticker, filters, from, last);
    if (!filters.tickers) {
      yield* page(undefined);
      return;
    }
    // 2. Every filtered ticker must exist; then one keyset stream per ticker, merged in order.
    const tickers = [...new Set(filters.tickers.map(normalizeTicker))].sort();
    if (tickers.length === 0) return;
    const known = await this.query<{ ticker: string }>(KNOWN_TICKERS_SQL, [tickers]);
    const knownSet = new Set(known.map((r) => r.ticker));
    const missing = tickers.find((t) => !knownSet.has(t));
    if (missing !== undefined) throw MarketDataError.unknownTicker(missing);
    if (tickers.length === 1) {
      yield* page(tickers[0]);
      return;
    }
    yield* mergeOrdered(tickers.map((t) => page(t)));
  }

  private async tickerExists(ticker: string): Promise<boolean> {
    const rows = await this.query<{ found: boolean }>(TICKER_EXISTS_SQL, [ticker]);
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
