/** Helpers shared by the market-data providers: call counters and argument checks. */
import { MarketDataError } from './market-data.errors.js';
import type { TradeFilters } from './market-data.provider.js';
import { isIsoDate } from './trading-calendar.js';

/** The data methods every provider counts calls of. */
export const COUNTED_METHODS: readonly string[] = [
  'hasTicker',
  'listTickers',
  'getQuote',
  'getFinancials',
  'getNews',
  'getDailyBars',
  'streamTrades',
  'getTradeEvents',
];

/** Per-method call counters (one per call), all methods starting at zero. */
export class CallCounter {
  private counts: Record<string, number> = CallCounter.zeros();

  /** Counts one call of `method`. */
  add(method: string): void {
    this.counts[method] = (this.counts[method] ?? 0) + 1;
  }

  /** A copy of the current counts. */
  snapshot(): Record<string, number> {
    return { ...this.counts };
  }

  /** Sets every counter back to zero. */
  reset(): void {
    this.counts = CallCounter.zeros();
  }

  private static zeros(): Record<string, number> {
    return Object.fromEntries(COUNTED_METHODS.map((m) => [m, 0]));
  }
}

/** Canonical form of a ticker: trimmed, upper case. */
export function normalizeTicker(ticker: string): string {
  return String(ticker).trim().toUpperCase();
}

/** Throws `INVALID_ARGUMENT` unless `from` and `to` are `YYYY-MM-DD` dates with `from ≤ to`. */
export function validateRange(from: string, to: string): void {
  if (!isIsoDate(from))
    throw MarketDataError.invalidArgument(
      'from',
      `expected YYYY-MM-DD, got ${JSON.stringify(String(from).slice(0, 32))}`,
    );
  if (!isIsoDate(to))
    throw MarketDataError.invalidArgument(
      'to',
      `expected YYYY-MM-DD, got ${JSON.stringify(String(to).slice(0, 32))}`,
    );
  if (from > to) throw MarketDataError.invalidArgument('from', `${from} is after to ${to}`);
}

/** Throws `INVALID_ARGUMENT` when a trade filter has the wrong shape. */
export function validateFilters(filters: TradeFilters): void {
  if (filters.tickers !== undefined && !Array.isArray(filters.tickers))
    throw MarketDataError.invalidArgument('filters.tickers', 'expected an array of tickers');
  if (filters.side !== undefined && filters.side !== 'buy' && filters.side !== 'sell')
    throw MarketDataError.invalidArgument('filters.side', "expected 'buy' or 'sell'");
  if (filters.minQuantity !== undefined && !Number.isFinite(filters.minQuantity))
    throw MarketDataError.invalidArgument('filters.minQuantity', 'expected a finite number');
}
