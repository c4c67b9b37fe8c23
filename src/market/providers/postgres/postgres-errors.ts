/** Maps PostgreSQL driver and network failures to the market-data error codes. */
import { MarketDataError } from '../market-data.errors.js';

/** pg error codes that mean "the source is not reachable right now". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '3D000',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/** Maps a pg / network error to `SOURCE_TIMEOUT`, `SOURCE_UNAVAILABLE`, or keeps a `MarketDataError`. */
export function toMarketDataError(err: unknown): MarketDataError {
  if (err instanceof MarketDataError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === '57014' || /timeout/i.test(message)) {
    return new MarketDataError('SOURCE_TIMEOUT', `PostgreSQL source timed out: ${message}`, {
      cause: err,
    });
  }
  if (
    (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) ||
    /terminat|connect/i.test(message)
  ) {
    return new MarketDataError('SOURCE_UNAVAILABLE', `PostgreSQL source unavailable: ${message}`, {
      cause: err,
    });
  }
  return new MarketDataError('SOURCE_UNAVAILABLE', `PostgreSQL source query failed: ${message}`, {
    cause: err,
  });
}
