import { todayUtcDay } from '../../cache/index.js';
import {
  DEFAULT_TICKERS,
  DEFAULT_TRADES_PER_TICKER_DAY,
  NEWS_LIMIT,
  NEWS_LOOKBACK_DAYS,
  compareNewsDesc,
  compareTrades,
  latestBars,
  latestReportedFiscalYear,
  normalizePeriod,
  parseTradeId,
  quoteFromBars,
  syntheticBars,
  syntheticFinancials,
  syntheticNewsForDay,
  syntheticTradeEvents,
  syntheticTradesForDay,
  tickerProfile,
} from './synthetic-data.js';
import { MarketDataError } from './market-data.errors.js';
import { SERIES_EPOCH } from './synthetic/bar-series.js';
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
import { addDays, tradingDays } from './trading-calendar.js';
import {
  CallCounter,
  normalizeTicker,
  validateFilters,
  validateRange,
} from './provider-support.js';

/** Options of the synthetic provider. */
export interface SyntheticProviderOptions {
  /** Simulated vendor latency added to every call, in milliseconds. Default 0. */
  latencyMs?: number;
  /** Symbols the source knows. Default: `DEFAULT_TICKERS` (30 US and Tokyo listings). */
  tickers?: string[];
  /** Trades generated per ticker and trading day. Default 40. */
  tradesPerTickerDay?: number;
  /** Today's date (`YYYY-MM-DD`, UTC); nothing after it exists. Default: the system clock. */
  today?: () => string;
}

/** A range of daily bars requested from the source. */
export interface RequestedBarRange {
  ticker: string;
  from: string;
  to: string;
}

/**
 * Deterministic in-memory market data: random-walk bars per ticker from 2000-01-03, trades
 * per (ticker, day), statements and news — the same values for the same inputs, always.
 */
export class SyntheticMarketDataProvider implements MarketDataProvider {
  /** Which implementation this is. */
  readonly name = 'synthetic' as const;
  private readonly latencyMs: number;
  private readonly tickers: string[];
  private readonly tickerSet: Set<string>;
  private readonly tradesPerTickerDay: number;
  private readonly today: () => string;
  private readonly counter = new CallCounter();
  private readonly barRanges: RequestedBarRange[] = [];

  constructor(options: SyntheticProviderOptions = {}) {
    this.latencyMs = Math.max(0, options.latencyMs ?? 0);
    this.tickers = [
      ...new Set((options.tickers ?? DEFAULT_TICKERS).map((t) => t.trim().toUpperCase())),
    ].sort();
    this.tickerSet = new Set(this.tickers);
    this.tradesPerTickerDay = Math.max(
      0,
      Math.floor(options.tradesPerTickerDay ?? DEFAULT_TRADES_PER_TICKER_DAY),
    );
    this.today = options.today ?? todayUtcDay;
  }

  /** `SERIES_EPOCH` for each known ticker: no bar or trade exists before it. */
  async firstDays(tickers: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const t of tickers) if (this.tickerSet.has(normalizeTicker(t))) out.set(t, SERIES_EPOCH);
    return out;
  }

  /** True when the source knows `ticker` (case-insensitive). */
  async hasTicker(ticker: string): Promise<boolean> {
    await this.enter('hasTicker');
    return this.tickerSet.has(normalizeTicker(ticker));
  }

  /** Every known ticker, sorted. */
  async listTickers(): Promise<string[]> {
    await this.enter('listTickers');
    return [...this.tickers];
  }

  /** Quote from the latest bar on or before today. */
  async getQuote(ticker: string): Promise<Quote> {
    await this.enter('getQuote');
    const t = this.known(ticker);
    const bars = latestBars(t, this.today());
    const latest = bars[bars.length - 1];
    if (!latest)
      throw new MarketDataError('NOT_FOUND', `no bar for ${t} on or before ${this.today()}`);
    return quoteFromBars(
      t,
      tickerProfile(t).currency,
      latest,
      bars.length > 1 ? bars[0] : undefined,
    );
  }

  /** Latest statement of the period/quarter published on or before today. */
  async getFinancials(
    ticker: string,
    period: FinancialPeriod,
    quarter: FiscalQuarter,
  ): Promise<FinancialStatement> {
    await this.enter('getFinancials');
    const t = this.known(ticker);
    const q = normalizePeriod(period, quarter);
    if (!q)
      throw MarketDataError.invalidArgument('quarter', 'quarterly statements take Q1..Q4, not FY');
    return syntheticFinancials(t, period, q, latestReportedFiscalYear(q, this.today()));
  }

  /** Up to 10 items of the category from the last two years, newest first. */
  async getNews(ticker: string, category: NewsCategory): Promise<NewsItem[]> {
    await this.enter('getNews');
    const t = this.known(ticker);
    const out: NewsItem[] = [];
    const today = this.today();
    for (let back = 0; back <= NEWS_LOOKBACK_DAYS && out.length < NEWS_LIMIT; back++) {
      const day = syntheticNewsForDay(t, addDays(today, -back)).filter(
        (n) => n.category === category,
      );
      out.push(...day.sort(compareNewsDesc));
    }
    return out.slice(0, NEWS_LIMIT);
  }

  /** Bars of the trading days in `[from, to]` up to today; records the range asked. */
  async getDailyBars(ticker: string, from: string, to: string): Promise<DailyBar[]> {
    await this.enter('getDailyBars');
    const t = this.known(ticker);
    validateRange(from, to);
    this.barRanges.push({ ticker: t, from, to });
    const today = this.today();
    return syntheticBars(t, from, to < today ? to : today);
  }

  /** Trades in `[from, to]` (up to today), generated one trading day at a time. */
  streamTrades(filters: TradeFilters, from: string, to: string): AsyncIterable<Trade> {
    this.counter.add('streamTrades');
    return this.generateTrades(filters, from, to);
  }

  /** Events of each known trade id as of today; unknown or malformed ids are absent. */
  async getTradeEvents(tradeIds: string[]): Promise<Map<string, TradeEvent[]>> {
    await this.enter('getTradeEvents');
    const today = this.today();
    // Group ids by (ticker, day) so each day's trades are generated once.
    const byDay = new Map<string, Array<{ id: string; n: number }>>();
    for (const id of new Set(tradeIds)) {
      const parsed = parseTradeId(id);
      if (!parsed || !this.tickerSet.has(parsed.ticker) || parsed.date > today) continue;
      const key = `${parsed.ticker}|${parsed.date}`;
      const list = byDay.get(key) ?? [];
      list.push({ id, n: parsed.n });
      byDay.set(key, list);
    }
    const out = new Map<string, TradeEvent[]>();
    for (const [key, ids] of byDay) {
      const [ticker, date] = key.split('|');
      const trades = syntheticTradesForDay(ticker, date, this.tradesPerTickerDay);
      for (const { id, n } of ids) {
        const trade = trades[n - 1];
        if (trade && trade.tradeId === id) out.set(id, syntheticTradeEvents(trade, today));
      }
    }
    return out;
  }

  /** Calls made to each data method since creation or the last reset. */
  getCallCounts(): Record<string, number> {
    return this.counter.snapshot();
  }

  /** Sets every call counter back to zero and forgets the recorded bar ranges. */
  resetCallCounts(): void {
    this.counter.reset();
    this.barRanges.length = 0;
  }

  /** Bar ranges asked of `getDailyBars` since creation or the last reset, in call order. */
  getRequestedBarRanges(): RequestedBarRange[] {
    return this.barRanges.map((r) => ({ ...r }));
  }

  /** Always `up`: the data is generated in process. */
  async health(): Promise<SourceHealth> {
    return { status: 'up', latencyMs: 0 };
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  private async *generateTrades(
    filters: TradeFilters,
    from: string,
    to: string,
  ): AsyncGenerator<Trade> {
    await this.sleep();
    validateRange(from, to);
    validateFilters(filters);
    const tickers = filters.tickers
      ? [...new Set(filters.tickers.map((t) => this.known(t)))].sort()
      : this.tickers;
    const today = this.today();
    const last = to < today ? to : today;
    if (from > last) return;
    // One trading day at a time: memory holds at most one day of the selected tickers.
    for (const date of tradingDays(from, last)) {
      const day: Trade[] = [];
      for (const ticker of tickers) {
        for (const trade of syntheticTradesForDay(ticker, date, this.tradesPerTickerDay)) {
          if (filters.side && trade.side !== filters.side) continue;
          if (filters.venue && trade.venue !== filters.venue) continue;
          if (filters.minQuantity !== undefined && trade.quantity < filters.minQuantity) continue;
          day.push(trade);
        }
      }
      day.sort(compareTrades);
      yield* day;
    }
  }

  private known(ticker: string): string {
    const t = normalizeTicker(ticker);
    if (!this.tickerSet.has(t)) throw MarketDataError.unknownTicker(ticker);
    return t;
  }

  private async enter(method: string): Promise<void> {
    this.counter.add(method);
    await this.sleep();
  }

  private sleep(): Promise<void> {
    return this.latencyMs > 0
      ? new Promise((resolve) => setTimeout(resolve, this.latencyMs))
      : Promise.resolve();
  }
}
