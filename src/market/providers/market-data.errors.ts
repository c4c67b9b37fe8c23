/** Stable machine-readable codes carried by every error a market-data provider throws. */
export type MarketDataErrorCode =
  'UNKNOWN_TICKER' | 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'SOURCE_UNAVAILABLE' | 'SOURCE_TIMEOUT';

/** Typed error of the market-data providers: a stable `code`, a message and an optional `cause`. */
export class MarketDataError extends Error {
  constructor(
    readonly code: MarketDataErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** The ticker is not known to the source (code `UNKNOWN_TICKER`). */
  static unknownTicker(ticker: string): MarketDataError {
    return new MarketDataError(
      'UNKNOWN_TICKER',
      `unknown ticker ${JSON.stringify(ticker.slice(0, 32))}`,
    );
  }

  /** An argument is malformed; `field` names it (code `INVALID_ARGUMENT`). */
  static invalidArgument(field: string, message: string): MarketDataError {
    return new MarketDataError('INVALID_ARGUMENT', `${field}: ${message}`);
  }
}

/** True when `err` is a `MarketDataError`, optionally with the given code. */
export function isMarketDataError(
  err: unknown,
  code?: MarketDataErrorCode,
): err is MarketDataError {
  return err instanceof MarketDataError && (code === undefined || err.code === code);
}
