import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  CacheKeyType,
  CacheService,
  CacheTTLPolicy,
  CacheValidationError,
  PreparedResponse,
  etagOf,
  type Factory,
  type Resolved,
} from '../cache/index.js';
import { computeAnalysis, type AnalysisType, type StockAnalysis } from './analysis/analysis.js';
import { ANALYSIS_LOOKBACK_DAYS, BarsService } from './bars.service.js';
import { coverageOf, secondsLeft, type Served } from './cached-response.js';
import { MARKET_SETTINGS, type MarketSettings } from './market.options.js';
import {
  MARKET_DATA_PROVIDER,
  type DailyBar,
  type FinancialPeriod,
  type FinancialStatement,
  type FiscalQuarter,
  type MarketDataProvider,
  type NewsCategory,
  type NewsItem,
  type Quote,
} from './providers/market-data.provider.js';
import { addDays, lastTradingDayOnOrBefore } from './providers/trading-calendar.js';
import { isCachedAnalysis, isFinancialStatement, isNewsItems, isQuote } from './value-shapes.js';
import { VendorRefreshes } from './vendor-refreshes.js';

/** Body of the price route. */
export interface PriceBody {
  ticker: string;
  /** When the quote was fetched from the source (ISO). */
  asOf: string;
  quote: Quote;
}
/** Body of the financials route. */
export interface FinancialsBody {
  ticker: string;
  period: FinancialPeriod;
  quarter: FiscalQuarter;
  asOf: string;
  statement: FinancialStatement;
}
/** Body of the news route. */
export interface NewsBody {
  ticker: string;
  category: NewsCategory;
  asOf: string;
  items: NewsItem[];
}
/** Body of the analysis route. */
export interface AnalysisBody {
  ticker: string;
  type: AnalysisType;
  /** First and last day of the bars analysed. */
  from: string;
  to: string;
  asOf: string;
  analysis: StockAnalysis;
}
/** Body of the bars route. */
export interface BarsBody {
  ticker: string;
  from: string;
  to: string;
  asOf: string;
  bars: DailyBar[];
}

/** What the analysis cache holds: the analysis and the window it was computed on. */
interface CachedAnalysis {
  from: string;
  to: string;
  analysis: StockAnalysis;
}

/**
 * The stock routes' data: quotes, statements and news through `CacheService.getOrSetResult`
 * (key-type TTLs), bars through the range cache, analyses computed from cached bars and cached
 * for 6 h. Tickers reach it already normalized and known to the source.
 */
@Injectable()
export class MarketService {
  constructor(
    @Inject(CacheService) private readonly cache: CacheService,
    @Inject(CacheTTLPolicy) private readonly policy: CacheTTLPolicy,
    @Inject(MARKET_DATA_PROVIDER) private readonly provider: MarketDataProvider,
    @Inject(BarsService) private readonly bars: BarsService,
    @Inject(MARKET_SETTINGS) private readonly settings: MarketSettings,
    /** The HTTP vendor's refresh order and budget (a pass-through for other sources). */
    @Optional() @Inject(VendorRefreshes) private readonly vendor?: VendorRefreshes,
  ) {}

  /** The latest quote (stock-price TTL). */
  async getPrice(ticker: string): Promise<Served<PriceBody>> {
    const r = await this.checked(
      this.cache.keys.stockPrice(ticker),
      () => this.provider.getQuote(ticker),
      CacheKeyType.STOCK_PRICE,
      isQuote,
    );
    return this.served({ ticker, asOf: iso(r.asOf), quote: r.value }, r, CacheKeyType.STOCK_PRICE);
  }

  /** The latest statement of a resolved period/quarter (`resolveStatementKind`), financial-data TTL. */
  async getFinancials(
    ticker: string,
    period: FinancialPeriod,
    quarter: FiscalQuarter,
  ): Promise<Served<FinancialsBody>> {
    const r = await this.checked(
      this.cache.keys.financialData(ticker, period, quarter),
      () => this.provider.getFinancials(ticker, period, quarter),
      CacheKeyType.FINANCIAL_DATA,
      isFinancialStatement,
    );
    return this.served(
      { ticker, period, quarter, asOf: iso(r.asOf), statement: r.value },
      r,
      CacheKeyType.FINANCIAL_DATA,
    );
  }

  /** The latest news items of a category (news TTL). */
  async getNews(ticker: string, category: NewsCategory): Promise<Served<NewsBody>> {
    const r = await this.checked(
      this.cache.keys.newsData(ticker, category),
      () => this.provider.getNews(ticker, category),
      CacheKeyType.NEWS_DATA,
      isNewsItems,
    );
    return this.served(
      { ticker, category, asOf: iso(r.asOf), items: r.value },
      r,
      CacheKeyType.NEWS_DATA,
    );
  }

  /**
   * An analysis computed with `computeAnalysis` over the daily bars of the 1.5 years up to the
   * latest trading day (read through the range cache), cached with the AI-analysis TTL (6 h).
   */
  async getAnalysis(ticker: string, type: AnalysisType): Promise<Served<AnalysisBody>> {
    const r = await this.checked<CachedAnalysis>(
      this.cache.keys.aiAnalysis(ticker, type),
      async () => {
        const to = lastTradingDayOnOrBefore(this.settings.today());
        const from = addDays(to, -ANALYSIS_LOOKBACK_DAYS);
        const { result } = await this.bars.getBars(ticker, from, to);
        return { from, to, analysis: computeAnalysis(ticker, result.items, type) };
      },
      CacheKeyType.AI_ANALYSIS,
      (v): v is CachedAnalysis => isCachedAnalysis(v),
    );
    const { from, to, analysis } = r.value;
    return this.served(
      { ticker, type, from, to, asOf: iso(r.asOf), analysis },
      r,
      CacheKeyType.AI_ANALYSIS,
    );
  }

  /**
   * Daily bars of a range already checked (`BarsService.checkRange`), as the JSON of a `BarsBody`
   * assembled from the cached fragments (never parsed), with an ETag made from their hashes.
   * `X-Cache` HIT only when every day came from the cache; a replay of the cached response
   * (every day cached by then) says `X-Cache-Coverage: full`.
   */
  async getBars(ticker: string, from: string, to: string): Promise<PreparedResponse> {
    const { result, maxAgeSeconds, dataThrough } = await this.bars.getBarsText(ticker, from, to);
    const head = JSON.stringify({ ticker, from, to, asOf: iso(result.asOf) });
    const coverage = { 'X-Cache-Coverage': coverageOf(result.status) };
    return new PreparedResponse(`${head.slice(0, -1)},"bars":${result.json}}`, {
      source: result.status === 'hit' ? 'l2' : 'factory',
      // Past the source's last loaded day the answer may grow soon: reusable only briefly.
      maxAgeSeconds: dataThrough
        ? Math.min(maxAgeSeconds, Math.floor(this.settings.dataThroughCacheMs / 1000))
        : maxAgeSeconds,
      etag: etagOf(`${head}\n${result.tag}`),
      headers: dataThrough ? { ...coverage, 'X-Data-Through': dataThrough } : coverage,
      replayHeaders: { 'X-Cache-Coverage': 'full' },
      // Not kept whole: a range wholly before the floor (nothing was read), or one reaching past
      // the last loaded day (its answer grows once the source loads more).
      store: result.totalDays > 0 && dataThrough === undefined,
    });
  }

  /**
   * `getOrSetResult` whose cached answer is checked against its shape first: a cached value that
   * fails `isValid` is corrupt (counted under the key type's `corrupt`, deleted everywhere) and
   * the source's answer is served instead. The source's own answers are not checked here (the
   * HTTP vendor checks its payloads itself). With the vendor, the factory goes through its budget
   * (`VendorRefreshes.wrap`) and every read is counted for the refresh order.
   */
  private async checked<T>(
    key: string,
    factory: Factory<T>,
    keyType: CacheKeyType,
    isValid: (value: unknown) => value is T,
  ): Promise<Resolved<T>> {
    const source = this.vendor ? this.vendor.wrap(key, keyType, factory) : factory;
    const r = await this.cache.getOrSetResult<unknown>(key, source, { keyType });
    this.vendor?.record(key, r);
    if (r.source === 'factory' || isValid(r.value)) return r as Resolved<T>;
    this.cache.countersOf(keyType).corrupt++;
    await this.cache.delete(key);
    return this.cache.getOrSetResult<T>(key, source, { keyType });
  }

  private served<T>(
    body: T,
    r: { source: Served<T>['source']; asOf: number },
    type: CacheKeyType,
  ): Served<T> {
    return {
      body,
      source: r.source,
      maxAgeSeconds: secondsLeft(r.source, r.asOf, this.policy.ttlFor(type)),
    };
  }
}

/**
 * The (period, quarter) a financials request means. Without a period: quarterly when a quarter
 * Q1-Q4 is given, else annual. Quarterly needs Q1-Q4; annual takes only FY (the default there).
 * Throws `CacheValidationError` naming `quarter` (400).
 */
export function resolveStatementKind(
  period: FinancialPeriod | undefined,
  quarter: FiscalQuarter | undefined,
): { period: FinancialPeriod; quarter: FiscalQuarter } {
  const p: FinancialPeriod =
    period ?? (quarter !== undefined && quarter !== 'FY' ? 'quarterly' : 'annual');
  if (p === 'quarterly' && (quarter === undefined || quarter === 'FY'))
    throw new CacheValidationError(
      'quarter',
      'quarter must be one of Q1, Q2, Q3, Q4 with period=quarterly',
    );
  if (p === 'annual' && quarter !== undefined && quarter !== 'FY')
    throw new CacheValidationError('quarter', 'quarter must be FY (or absent) with period=annual');
  return { period: p, quarter: p === 'annual' ? 'FY' : (quarter as FiscalQuarter) };
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
