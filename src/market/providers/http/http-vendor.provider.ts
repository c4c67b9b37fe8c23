import type { VendorConfig } from '../../../../config/vendor-config.js';
import { MarketDataError } from '../market-data.errors.js';
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
} from '../market-data.provider.js';
import {
  CallCounter,
  normalizeTicker,
  validateFilters,
  validateRange,
} from '../provider-support.js';
import { VendorClient, type VendorClientOptions, type VendorClientStats } from './vendor-client.js';
import {
  toBars,
  toNews,
  toQuote,
  toStatement,
  toTickers,
  toTradeEvents,
  toTradePage,
} from './vendor-shapes.js';

/** Options of `HttpVendorProvider`: the client's, plus how long the ticker list is reused. */
export interface HttpVendorProviderOptions extends VendorClientOptions {
  /** How long the vendor's ticker list is reused, in ms. Default 3 600 000 (1 hour). */
  tickersTtlMs?: number;
}

/** Trade ids per `/v1/trade-events` call. */
export const TRADE_EVENT_BATCH = 100;

/**
 * Market data from an HTTP vendor (API in the README, "HTTP vendor"): every answer is checked
 * against its shape (`vendor-shapes.ts`) before it is returned, so a malformed payload is a
 * `SOURCE_UNAVAILABLE` error, never a cached value. Every data call runs the client's
 * `beforeCall` (the shared call budget) first; `health` is a cheap unmetered `GET /v1/status`.
 * Known tickers come from one `GET /v1/tickers`, reused for `tickersTtlMs`.
 */
export class HttpVendorProvider implements MarketDataProvider {
  /** Which implementation this is. */
  readonly name = 'http' as const;
  private readonly client: VendorClient;
  private readonly counter = new CallCounter();
  private readonly tickersTtlMs: number;
  private directory?: { list: string[]; set: Set<string>; until: number };
  private loading?: Promise<{ list: string[]; set: Set<string> }>;

  constructor(options: HttpVendorProviderOptions) {
    this.client = new VendorClient(options);
    this.tickersTtlMs = options.tickersTtlMs ?? 3_600_000;
  }

  /** The HTTP client's counters (attempts, retries, 429s, failures). */
  get clientStats(): VendorClientStats {
    return { ...this.client.stats };
  }

  /** True when the vendor's ticker list holds `ticker` (case-insensitive). */
  async hasTicker(ticker: string): Promise<boolean> {
    this.counter.add('hasTicker');
    return (await this.tickerDirectory()).set.has(normalizeTicker(ticker));
  }

  /** Every ticker the vendor lists, sorted. */
  async listTickers(): Promise<string[]> {
    this.counter.add('listTickers');
    return [...(await this.tickerDirectory()).list];
  }

  /** `GET /v1/quote/{ticker}`. */
  async getQuote(ticker: string): Promise<Quote> {
    this.counter.add('getQuote');
    const t = normalizeTicker(ticker);
    return toQuote(await this.client.getJson(`/v1/quote/${encodeURIComponent(t)}`), t);
  }

  /** `GET /v1/financials/{ticker}?period=&quarter=`. */
  async getFinancials(
    ticker: string,
    period: FinancialPeriod,
    quarter: FiscalQuarter,
  ): Promise<FinancialStatement> {
    this.counter.add('getFinancials');
    const t = normalizeTicker(ticker);
    const body = await this.client.getJson(`/v1/financials/${encodeURIComponent(t)}`, {
      period,
      quarter,
    });
    return toStatement(body, t, period, quarter);
  }

  /** `GET /v1/news/{ticker}?category=` (at most 10 items, newest first). */
  async getNews(ticker: string, category: NewsCategory): Promise<NewsItem[]> {
    this.counter.add('getNews');
    const t = normalizeTicker(ticker);
    const body = await this.client.getJson(`/v1/news/${encodeURIComponent(t)}`, { category });
    return toNews(body, t);
  }

  /** `GET /v1/bars/{ticker}?from=&to=`. */
  async getDailyBars(ticker: string, from: string, to: string): Promise<DailyBar[]> {
    this.counter.add('getDailyBars');
    validateRange(from, to);
    const t = normalizeTicker(ticker);
    const body = await this.client.getJson(`/v1/bars/${encodeURIComponent(t)}`, { from, to });
    return toBars(body, from, to);
  }

  /** `GET /v1/trades?…&cursor=`, page after page (one page in memory at a time). */
  streamTrades(filters: TradeFilters, from: string, to: string): AsyncIterable<Trade> {
    this.counter.add('streamTrades');
    return this.pages(filters, from, to);
  }

  /** `GET /v1/trade-events?ids=…`, `TRADE_EVENT_BATCH` ids per call. */
  async getTradeEvents(tradeIds: string[]): Promise<Map<string, TradeEvent[]>> {
    this.counter.add('getTradeEvents');
    const ids = [...new Set(tradeIds)];
    const out = new Map<string, TradeEvent[]>();
    for (let i = 0; i < ids.length; i += TRADE_EVENT_BATCH) {
      const batch = ids.slice(i, i + TRADE_EVENT_BATCH);
      const body = await this.client.getJson('/v1/trade-events', { ids: batch.join(',') });
      for (const [id, events] of toTradeEvents(body, batch)) out.set(id, events);
    }
    return out;
  }

  /** `GET /v1/status` within `timeoutMs`, unmetered and without retries; never throws. */
  async health(timeoutMs: number): Promise<SourceHealth> {
    const started = performance.now();
    try {
      await this.client.getJson('/v1/status', {}, { metered: false, retries: 0, timeoutMs });
      return { status: 'up', latencyMs: Math.round(performance.now() - started) };
    } catch (e) {
      return { status: 'down', reason: e instanceof Error ? e.message.slice(0, 120) : 'failed' };
    }
  }

  /** Calls made to each data method since creation or the last reset. */
  getCallCounts(): Record<string, number> {
    return this.counter.snapshot();
  }

  /** Sets every call counter back to zero. */
  resetCallCounts(): void {
    this.counter.reset();
  }

  /** Nothing to release (fetch keeps no handle of its own). */
  async close(): Promise<void> {}

  private async *pages(filters: TradeFilters, from: string, to: string): AsyncGenerator<Trade> {
    validateRange(from, to);
    validateFilters(filters);
    let cursor: string | undefined;
    do {
      const body = await this.client.getJson('/v1/trades', {
        tickers: filters.tickers?.map(normalizeTicker).join(','),
        side: filters.side,
        venue: filters.venue,
        minQuantity: filters.minQuantity,
        from,
        to,
        cursor,
      });
      const page = toTradePage(body);
      yield* page.trades;
      cursor = page.next;
    } while (cursor !== undefined);
  }

  /** The ticker list, fetched once per `tickersTtlMs` (one call in flight at a time). */
  private async tickerDirectory(): Promise<{ list: string[]; set: Set<string> }> {
    const now = Date.now();
    if (this.directory && now < this.directory.until) return this.directory;
    this.loading ??= this.client
      .getJson('/v1/tickers')
      .then((body) => {
        const list = [...new Set(toTickers(body))].sort();
        this.directory = { list, set: new Set(list), until: Date.now() + this.tickersTtlMs };
        return this.directory;
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }
}

/** The HTTP vendor provider of the vendor settings; `beforeCall` runs before every metered attempt (the budget). */
export function httpVendorProviderFrom(
  vendor: Pick<
    VendorConfig,
    | 'baseUrl'
    | 'apiKey'
    | 'connectTimeoutMs'
    | 'requestTimeoutMs'
    | 'retries'
    | 'retryBaseMs'
    | 'maxRetryAfterMs'
    | 'tickersTtlMs'
  >,
  beforeCall?: () => Promise<void>,
): HttpVendorProvider {
  if (!vendor.baseUrl)
    throw MarketDataError.invalidArgument('VENDOR_BASE_URL', 'required with DATA_SOURCE=http');
  return new HttpVendorProvider({ ...vendor, baseUrl: vendor.baseUrl, beforeCall });
}
