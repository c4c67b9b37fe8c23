import { Inject, Injectable, Logger } from '@nestjs/common';
import type { RangeCoverage } from '../cache/index.js';
import { MARKET_SETTINGS, type MarketSettings } from './market.options.js';
import { MARKET_DATA_PROVIDER, type MarketDataProvider } from './providers/market-data.provider.js';

/** Most tickers whose first day is remembered; past it the memory starts over (bounded growth). */
const MAX_REMEMBERED_TICKERS = 10_000;

/** A ticker's first day as the source told it (`null`: no data) and until when it is reused (epoch ms). */
interface Remembered {
  first: string | null;
  until: number;
}

/**
 * The floor of bars and trades ranges: the later of the configured earliest date
 * (`MARKET_EARLIEST_DATE`) and the source's first available day of the tickers asked for. Days
 * before it are answered empty without asking the source and without writing day keys, so
 * requests for distant years cannot fill the cache with empty markers. The source's first days
 * are asked once per ticker and reused for `floorCacheMs`.
 */
@Injectable()
export class DataFloor {
  private readonly logger = new Logger('DataFloor');
  private readonly remembered = new Map<string, Remembered>();

  constructor(
    @Inject(MARKET_DATA_PROVIDER) private readonly provider: MarketDataProvider,
    @Inject(MARKET_SETTINGS) private readonly settings: MarketSettings,
  ) {}

  /**
   * The floor of a range over `tickers` (upper case): the configured earliest date, raised to the
   * earliest first day among the tickers that have data. Without any such ticker, or when the
   * source cannot answer, the configured date alone.
   */
  async floorOf(tickers: readonly string[]): Promise<string> {
    const configured = this.settings.earliestDate;
    const firsts = await this.firstDays(tickers);
    if (firsts.length === 0) return configured;
    const earliest = firsts.reduce((a, b) => (b < a ? b : a));
    return earliest > configured ? earliest : configured;
  }

  /** The known first days of `tickers` (tickers without data left out), from memory or one source call. */
  private async firstDays(tickers: readonly string[]): Promise<string[]> {
    if (!this.provider.firstDays || tickers.length === 0) return [];
    const now = Date.now();
    const out: string[] = [];
    const ask: string[] = [];
    for (const t of new Set(tickers)) {
      const r = this.remembered.get(t);
      if (r && r.until > now) {
        if (r.first) out.push(r.first);
      } else ask.push(t);
    }
    if (ask.length === 0) return out;
    let answer: Map<string, string>;
    try {
      answer = await this.provider.firstDays(ask);
    } catch (err) {
      // The floor is an optimisation: without the source's answer the configured date applies.
      this.logger.warn(`first days unavailable: ${(err as Error).message}`);
      return out;
    }
    if (this.remembered.size + ask.length > MAX_REMEMBERED_TICKERS) this.remembered.clear();
    const until = now + this.settings.floorCacheMs;
    for (const t of ask) {
      const first = answer.get(t) ?? null;
      this.remembered.set(t, { first, until });
      if (first) out.push(first);
    }
    return out;
  }
}

/** The coverage of a range lying wholly before the floor: nothing cached, nothing fetched. */
export function belowFloorCoverage(): RangeCoverage {
  return { status: 'hit', fetched: [], totalDays: 0, cachedDays: 0, asOf: Date.now() };
}
