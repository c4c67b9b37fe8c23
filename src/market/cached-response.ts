import { PreparedResponse, maxAgeSecondsOf, type CacheSource } from '../cache/index.js';

/** A response body built from cached data, with where it came from and how long it may be reused. */
export interface Served<T> {
  body: T;
  /** Where the data came from (`factory` = the source: `X-Cache: MISS`). */
  source: CacheSource;
  /** Seconds left of the data's TTL (`Cache-Control: max-age`); 0 for stale data. */
  maxAgeSeconds: number;
  /** Extra response headers (e.g. `X-Cache-Coverage`). */
  headers?: Record<string, string>;
}

/** How much of a range answer came from the cache (`X-Cache-Coverage`). */
export type CacheCoverage = 'full' | 'partial' | 'none';

/** The `X-Cache-Coverage` value of a range cache status. */
export function coverageOf(status: 'hit' | 'partial' | 'miss'): CacheCoverage {
  return status === 'hit' ? 'full' : status === 'partial' ? 'partial' : 'none';
}

/** Whole seconds left (rounded down) of a `ttlSeconds` entry produced at `asOf` (epoch ms); 0 for stale data. */
export function secondsLeft(source: CacheSource, asOf: number, ttlSeconds: number): number {
  return maxAgeSecondsOf(source, asOf, ttlSeconds, Math.floor);
}

/**
 * A body built from cached data as a `PreparedResponse` for `HttpCacheInterceptor`: serialized
 * once, answered (and kept by the HTTP cache no longer than the data stays fresh) with
 * `X-Cache`, `ETag` and `Cache-Control`; a matching `If-None-Match` gets 304 without a body.
 */
export function prepared<T>(served: Served<T>): PreparedResponse {
  return new PreparedResponse(JSON.stringify(served.body), {
    source: served.source,
    maxAgeSeconds: served.maxAgeSeconds,
    headers: served.headers,
  });
}
