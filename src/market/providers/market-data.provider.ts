/** Injection token of the app's `MarketDataProvider` (synthetic or PostgreSQL). */
export const MARKET_DATA_PROVIDER = 'MARKET:DATA_PROVIDER';

/** A calendar date as `YYYY-MM-DD` (UTC, no time zone). */
export type IsoDate = string;

/** Reporting period of a financial statement. */
export type FinancialPeriod = 'quarterly' | 'annual';
/** Fiscal quarter of a statement; `FY` is the full year (annual statements). */
export type FiscalQuarter = 'Q1' | 'Q2' | 'Q3' | 'Q4' | 'FY';
/** Category of a news item. */
export type NewsCategory = 'earnings' | 'markets' | 'analyst' | 'general';
/** Side of a trade. */
export type TradeSide = 'buy' | 'sell';
/** Kind of a post-trade event. */
export type TradeEventType = 'confirmation' | 'settlement' | 'amendment';

/** Latest quote of a ticker; prices in `currency` units, volume in shares. */
export interface Quote {
  ticker: string;
  /** Last price (the close of the latest trading day). */
  price: number;
  open: number;
  high: number;
  low: number;
  /** Close of the trading day before the latest one. */
  previousClose: number;
  /** `price - previousClose`, in currency units. */
  change: number;
  /** `change / previousClose * 100`, in percent (2 decimals). */
  changePercent: number;
  /** Shares traded on the latest trading day. */
  volume: number;
  /** ISO 4217 code, e.g. `USD`, `JPY`. */
  currency: string;
  /** ISO time at which the source produced the quote. */
  asOf: string;
}

/** One financial statement; money amounts in `currency` units, `eps` per share. */
export interface FinancialStatement {
  ticker: string;
  period: FinancialPeriod;
  quarter: FiscalQuarter;
  fiscalYear: number;
  revenue: number;
  operatingIncome: number;
  netIncome: number;
  eps: number;
  totalAssets: number;
  totalLiabilities: number;
  operatingCashFlow: number;
  currency: string;
  /** ISO time at which the statement was published by the source. */
  asOf: string;
}

/** One news item about a ticker. */
export interface NewsItem {
  id: string;
  ticker: string;
  category: NewsCategory;
  headline: string;
  summary: string;
  /** Publisher name. */
  source: string;
  /** ISO time of publication. */
  publishedAt: string;
}

/** One daily OHLCV bar; prices in the ticker's currency units, volume in shares. */
export interface DailyBar {
  /** Trading day, `YYYY-MM-DD`. */
  date: IsoDate;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/** One executed trade; `price` in the ticker's currency units, `quantity` in shares. */
export interface Trade {
  /** `T-<ticker>-<yyyymmdd>-<n>`, unique. */
  tradeId: string;
  ticker: string;
  side: TradeSide;
  /** Execution venue (MIC code, e.g. `XNYS`). */
  venue: string;
  quantity: number;
  price: number;
  /** ISO time of execution (millisecond precision). */
  executedAt: string;
  /** Trading day of the execution, `YYYY-MM-DD`. */
  tradeDate: IsoDate;
}

/** One post-trade event of a trade. */
export interface TradeEvent {
  tradeId: string;
  type: TradeEventType;
  /** ISO time of the event. */
  at: string;
  /** Status after the event, e.g. `confirmed`, `settled`, `amended`. */
  status: string;
}

/** Filters of a trades query; every given filter must match (AND). */
export interface TradeFilters {
  /** Only trades of these tickers (all tickers when absent). */
  tickers?: string[];
  side?: TradeSide;
  venue?: string;
  /** Only trades of at least this many shares. */
  minQuantity?: number;
}

/** A data source's health, as `MarketDataProvider.health` reports it. */
export interface SourceHealth {
  /** `down` when the source did not answer within the bound, or cannot be reached or used. */
  status: 'up' | 'down';
  /** Round trip of the check, in milliseconds (absent when nothing was sent, e.g. not connected yet). */
  latencyMs?: number;
  /** Why `down`, short and safe to show: no host names, credentials or keys (e.g. `connection refused (ECONNREFUSED)`). */
  reason?: string;
}

/** A source of market data: the built-in synthetic generator or a PostgreSQL database. */
export interface MarketDataProvider {
  /** Which implementation this is. */
  readonly name: 'synthetic' | 'postgres' | 'http';
  /** True when the source knows `ticker`. */
  hasTicker(ticker: string): Promise<boolean>;
  /** Every known ticker, sorted. */
  listTickers(): Promise<string[]>;
  /** Latest quote; throws `MarketDataError` `UNKNOWN_TICKER` for an unknown ticker. */
  getQuote(ticker: string): Promise<Quote>;
  /** Latest published statement for the period/quarter (`annual` always answers quarter `FY`). */
  getFinancials(
    ticker: string,
    period: FinancialPeriod,
    quarter: FiscalQuarter,
  ): Promise<FinancialStatement>;
  /** Most recent news items of a category (at most 10), newest first. */
  getNews(ticker: string, category: NewsCategory): Promise<NewsItem[]>;
  /** Bars of trading days only, in date order, `from` and `to` inclusive (`YYYY-MM-DD`). */
  getDailyBars(ticker: string, from: IsoDate, to: IsoDate): Promise<DailyBar[]>;
  /** Trades in `[from, to]` ordered by tradeDate, executedAt, tradeId; pages through, never materializes everything. */
  streamTrades(filters: TradeFilters, from: IsoDate, to: IsoDate): AsyncIterable<Trade>;
  /** Events of each known trade id (ordered by time); unknown ids are absent from the map. */
  getTradeEvents(tradeIds: string[]): Promise<Map<string, TradeEvent[]>>;
  /**
   * First day with bars or trades of each of `tickers` (upper case); a ticker without any data
   * (or unknown) is absent. Not counted in `getCallCounts`. Absent method: the configured floor alone applies.
   */
  firstDays?(tickers: string[]): Promise<Map<string, IsoDate>>;

  /**
   * The last day whose bars the source holds, per ticker (tickers without bars absent): days
   * after it are not known yet (not loaded), which is not the same as "no trading". Sources that
   * always hold every day up to today leave it out.
   */
  lastBarDays?(tickers: string[]): Promise<Map<string, IsoDate>>;
  /**
   * The last day whose trades the source holds, per ticker (tickers without trades absent): days
   * after it are not known yet. Sources that always hold every day up to today leave it out.
   */
  lastTradeDays?(tickers: string[]): Promise<Map<string, IsoDate>>;
  /** Number of calls made to each public data method since creation or the last reset. */
  getCallCounts(): Record<string, number>;
  /** Sets every call counter back to zero. */
  resetCallCounts(): void;
  /**
   * Checks that the source answers, within `timeoutMs` milliseconds (the app's health routes call
   * it in the background and from `/health/detailed`). Never throws: a failure or a timeout is
   * `down` with a reason. Not counted in `getCallCounts`. The synthetic source is always `up`.
   */
  health(timeoutMs: number): Promise<SourceHealth>;
  /** Releases what the provider opened (pools, timers). */
  close(): Promise<void>;
}
