import { Inject, Injectable, Logger } from '@nestjs/common';
import { MARKET_SETTINGS, type MarketSettings } from './market.options.js';
import { MARKET_DATA_PROVIDER, type MarketDataProvider } from './providers/market-data.provider.js';

/** Most tickers whose last day is remembered per kind; past it the memory starts over (bounded growth). */
const MAX_REMEMBERED_TICKERS = 10_000;

/** What the source holds up to a last day: bars or trades. */
type DataKind = 'bars' | 'trades';

/** A ticker's last day as the source told it (`null`: none) and until when it is reused (epoch ms). */
interface Remembered {
  last: string | null;
  until: number;
}

/**
 * How far the source's bars and trades go: the last day it holds per ticker (`lastBarDays`,
 * `lastTradeDays`). Days after it are not known yet — not loaded, which is not "no trading" — so
 * ranges are read only up to it and nothing after it is cached as empty; a later load shows up
 * once the remembered day is asked again (every `dataThroughCacheMs`). Sources that always hold
 * every day up to today (the synthetic one) have no such day.
 */
@Injectable()
export class DataThrough {
  private readonly logger = new Logger('DataThrough');
  private readonly remembered: Record<DataKind, Map<string, Remembered>> = {
    bars: new Map(),
    trades: new Map(),
  };

  constructor(
    @Inject(MARKET_DATA_PROVIDER) private readonly provider: MarketDataProvider,
    @Inject(MARKET_SETTINGS) private readonly settings: MarketSettings,
  ) {}

  /** The last day whose bars the source holds for `ticker`; undefined when every day is held, it has none, or the source cannot say. */
  async barsThrough(ticker: string): Promise<string | undefined> {
    const [last] = await this.lastDays('bars', [ticker]);
    return last;
  }

  /**
   * The last day whose trades the source holds for any of `tickers` (upper case): the latest of
   * their last trade days, so a ticker that stopped trading long ago does not hide the others'
   * recent days; days after it are known for none of them. Tickers without any trades are left
   * out (as for bars); undefined when none has trades, every day is held, or the source cannot say.
   */
  async tradesThrough(tickers: readonly string[]): Promise<string | undefined> {
    const lasts = await this.lastDays('trades', tickers);
    return lasts.length === 0 ? undefined : lasts.reduce((a, b) => (b > a ? b : a));
  }

  /** The known last days of `tickers` (tickers without any left out), from memory or one source call. */
  private async lastDays(kind: DataKind, tickers: readonly string[]): Promise<string[]> {
    const ask = kind === 'bars' ? this.provider.lastBarDays : this.provider.lastTradeDays;
    if (!ask || tickers.length === 0) return [];
    const memory = this.remembered[kind];
    const now = Date.now();
    const out: string[] = [];
    const missing: string[] = [];
    for (const t of new Set(tickers)) {
      const known = memory.get(t);
      if (known && known.until > now) {
        if (known.last) out.push(known.last);
      } else missing.push(t);
    }
    if (missing.length === 0) return out;
    let answer: Map<string, string>;
    try {
      answer = await ask.call(this.provider, missing);
    } catch (err) {
      // Without the source's answer the range is read as before (the source is asked anyway).
      this.logger.warn(`last ${kind} days unavailable: ${(err as Error).message}`);
      return out;
    }
    if (memory.size + missing.length > MAX_REMEMBERED_TICKERS) memory.clear();
    const until = now + this.settings.dataThroughCacheMs;
    for (const t of missing) {
      const last = answer.get(t) ?? null;
      memory.set(t, { last, until });
      if (last) out.push(last);
    }
    return out;
  }
}
