import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  CacheKeyType,
  CacheService,
  CacheTTLPolicy,
  FragmentRangeCache,
  checkDayRange,
  chunkByDay,
  type FillBounds,
  type RangeResult,
  type RangeText,
} from '../cache/index.js';
import { DataFloor, belowFloorCoverage } from './data-floor.js';
import { DataThrough } from './data-through.js';
import { MARKET_SETTINGS, type MarketSettings } from './market.options.js';
import {
  MARKET_DATA_PROVIDER,
  type DailyBar,
  type MarketDataProvider,
} from './providers/market-data.provider.js';
import { isDailyBar } from './value-shapes.js';

/** Calendar days of bars the analysis reads: 1.5 years (≈ 378 trading days) before the latest trading day. */
export const ANALYSIS_LOOKBACK_DAYS = 548;

/** Bars of a range with how much of it the cache held. */
export interface BarsRange<R = RangeResult<DailyBar>> {
  ticker: string;
  from: string;
  to: string;
  result: R;
  /** Seconds a client may reuse the answer: the live-day TTL when the range reaches today, else the bars TTL. */
  maxAgeSeconds: number;
  /**
   * Set when the range goes past the last day the source holds (`DataThrough`): that day. Days
   * after it were neither fetched nor cached: they are not known yet.
   */
  dataThrough?: string;
}

/**
 * Daily bars through the range cache: one bucket per closed month (`price_bars:{ticker}:{YYYY-MM}`)
 * and per day of the open month (`price_bars:{ticker}:{YYYY-MM-DD}`), stored as JSON bytes;
 * only missing days are fetched, one source call per contiguous gap. A cached bucket that is not
 * ours (or a day of the earlier layout holding something other than bars) is corrupt: counted
 * under `price_bars` and fetched again.
 */
@Injectable()
export class BarsService {
  /** The range cache of daily bars (scope: the ticker). */
  readonly range: FragmentRangeCache<DailyBar, string>;
  /** TTL of the live day's bucket, in seconds (≤ the stock-price TTL). */
  readonly liveDayTtlSeconds: number;
  /** Where bars and trades ranges start (the configured earliest date or the source's first day). */
  private readonly floor: DataFloor;
  /** How far the source's bars go. */
  private readonly through: DataThrough;

  constructor(
    @Inject(CacheService) cache: CacheService,
    @Inject(CacheTTLPolicy) private readonly policy: CacheTTLPolicy,
    @Inject(MARKET_DATA_PROVIDER) provider: MarketDataProvider,
    @Inject(MARKET_SETTINGS) private readonly settings: MarketSettings,
    @Optional() @Inject(DataFloor) floor?: DataFloor,
    @Optional() @Inject(DataThrough) through?: DataThrough,
  ) {
    this.floor = floor ?? new DataFloor(provider, settings);
    this.through = through ?? new DataThrough(provider, settings);
    const quoteTtl = policy.ttlFor(CacheKeyType.STOCK_PRICE);
    this.liveDayTtlSeconds = Math.min(settings.liveDayTtlSeconds ?? quoteTtl, quoteTtl);
    this.range = new FragmentRangeCache<DailyBar, string>(cache, {
      keyType: CacheKeyType.PRICE_BARS,
      dayKey: (ticker, date) => cache.keys.priceBarDay(ticker, date),
      monthKey: (ticker, month) => cache.keys.priceBarMonth(ticker, month),
      fetch: async (ticker, from, to) =>
        chunkByDay(await provider.getDailyBars(ticker, from, to), (bar) => bar.date),
      ttl: {
        closedDaySeconds: settings.closedDayTtlSeconds,
        liveDaySeconds: this.liveDayTtlSeconds,
        today: settings.today,
      },
      maxDays: Math.max(settings.maxBarsRangeDays, ANALYSIS_LOOKBACK_DAYS + 1),
      // A cached day holding anything but bars (a `null` bar, say) is corrupt: counted, refetched.
      isItem: isDailyBar,
    });
  }

  /**
   * Checks a client's range: `from ≤ to` and at most `maxBarsRangeDays` days
   * (`CacheValidationError` naming `from` or `to`: 400).
   */
  checkRange(from: string, to: string): void {
    checkDayRange(from, to, this.settings.maxBarsRangeDays);
  }

  /**
   * Bars of `ticker` (already known to the source) for `[from, to]`, in date order. Days before
   * the floor (`DataFloor`) are neither fetched nor cached: the range read is clamped to start at
   * the floor, and a range wholly before it answers no bars (coverage `hit`, nothing fetched).
   */
  async getBars(ticker: string, from: string, to: string): Promise<BarsRange> {
    const known = await this.knownSpan(ticker, from, to);
    const result: RangeResult<DailyBar> = known.empty
      ? { ...belowFloorCoverage(), items: [] }
      : await this.range.getRange(ticker, known.from, known.to, known.fill);
    return { ticker, from, to, result, maxAgeSeconds: this.maxAgeOf(to), ...known.through };
  }

  /** `getBars` as bytes: the bars as one JSON array, assembled from the cached fragments, and a tag of its content. */
  async getBarsText(ticker: string, from: string, to: string): Promise<BarsRange<RangeText>> {
    const known = await this.knownSpan(ticker, from, to);
    const result: RangeText = known.empty
      ? { ...belowFloorCoverage(), json: '[]', tag: 'none' }
      : await this.range.getText(ticker, known.from, known.to, known.fill);
    return { ticker, from, to, result, maxAgeSeconds: this.maxAgeOf(to), ...known.through };
  }

  /**
   * The part of `[from, to]` the source can answer: from the floor (`DataFloor`) to the last day
   * it holds (`DataThrough`); `empty` when none of the range is in it. `fill`: the same bounds for
   * the days a read may add to complete the closed months at the range's ends (see `FillBounds`).
   */
  private async knownSpan(
    ticker: string,
    from: string,
    to: string,
  ): Promise<{
    from: string;
    to: string;
    empty: boolean;
    fill: FillBounds;
    through?: { dataThrough: string };
  }> {
    const [floor, last] = await Promise.all([
      this.floor.floorOf([ticker]),
      this.through.barsThrough(ticker),
    ]);
    const start = from < floor ? floor : from;
    const beyond = last !== undefined && last < to;
    const end = beyond ? last : to;
    return {
      from: start,
      to: end,
      empty: to < floor || end < start,
      fill: last === undefined ? { from: floor } : { from: floor, to: last },
      ...(beyond ? { through: { dataThrough: last } } : {}),
    };
  }

  private maxAgeOf(to: string): number {
    return to >= this.settings.today()
      ? this.liveDayTtlSeconds
      : this.policy.ttlFor(CacheKeyType.PRICE_BARS);
  }
}
