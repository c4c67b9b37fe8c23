import { Inject, Injectable } from '@nestjs/common';
import { MarketDataError } from './providers/market-data.errors.js';
import { MARKET_DATA_PROVIDER, type MarketDataProvider } from './providers/market-data.provider.js';

/** How long a ticker the source confirmed stays known without asking again, in milliseconds (5 min). */
const KNOWN_FOR_MS = 5 * 60_000;
/** Most tickers remembered. */
const MAX_REMEMBERED = 10_000;

/**
 * Rejects unknown tickers before anything is cached or fetched: asks `provider.hasTicker` and
 * remembers confirmed tickers for 5 minutes (unknown ones are asked again every time), so a hot
 * ticker costs no source call per request.
 */
@Injectable()
export class KnownTickers {
  private readonly known = new Map<string, number>();

  constructor(@Inject(MARKET_DATA_PROVIDER) private readonly provider: MarketDataProvider) {}

  /** Throws `MarketDataError` `UNKNOWN_TICKER` (404) unless the source knows every ticker given. */
  async assertKnown(...tickers: string[]): Promise<void> {
    const now = Date.now();
    const unchecked = [...new Set(tickers)].filter((t) => (this.known.get(t) ?? 0) <= now);
    const answers = await Promise.all(unchecked.map((t) => this.provider.hasTicker(t)));
    const unknown = unchecked.find((_, i) => !answers[i]);
    if (unknown !== undefined) throw MarketDataError.unknownTicker(unknown);
    if (this.known.size + unchecked.length > MAX_REMEMBERED) this.known.clear();
    for (const t of unchecked) this.known.set(t, now + KNOWN_FOR_MS);
  }
}
