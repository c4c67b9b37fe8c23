import { Inject, Injectable, Logger } from '@nestjs/common';
import { MARKET_SETTINGS, type MarketSettings } from './market.options.js';
import { MARKET_DATA_PROVIDER, type MarketDataProvider } from './providers/market-data.provider.js';

/** Most tickers whose last day is remembered; past it the memory starts over (bounded growth). */
const MAX_REMEMBERED_TICKERS = 10_000;

/**
 * How far the source's bars go: the last day it holds per ticker (`lastBarDays`). Days after it
 * are not known yet — not loaded, which is not "no trading" — so the bars range is read only up
 * to it and nothing after it is cached as empty; a later load shows up once the remembered day
 * is asked again (every `dataThroughCacheMs`). Sources that always hold every day up to today
 * (the synthetic one) have no such day.
 */
@Injectable()
export class DataThrough {
  private readonly logger = new Logger('DataThrough');
  private readonly remembered = new Map<string, { last: string | null; until: number }>();

  constructor(
    @Inject(MARKET_DATA_PROVIDER) private readonly provider: MarketDataProvider,
    @Inject(MARKET_SETTINGS) private readonly settings: MarketSettings,
  ) {}

  /** The last day whose bars the source holds for `ticker`; undefined when every day is held, it has none, or the source cannot say. */
  async barsThrough(ticker: string): Promise<string | undefined> {
    if (!this.provider.lastBarDays) return undefined;
    const now = Date.now();
    const known = this.remembered.get(ticker);
    if (known && known.until > now) return known.last ?? undefined;
    let answer: Map<string, string>;
    try {
      answer = await this.provider.lastBarDays([ticker]);
    } catch (err) {
      // Without the source's answer the range is read as before (the source is asked anyway).
      this.logger.warn(`last bar days unavailable: ${(err as Error).message}`);
      return undefined;
    }
    if (this.remembered.size >= MAX_REMEMBERED_TICKERS) this.remembered.clear();
    const last = answer.get(ticker) ?? null;
    this.remembered.set(ticker, { last, until: now + this.settings.dataThroughCacheMs });
    return last ?? undefined;
  }
}
