import type { IncomingMessage, ServerResponse } from 'node:http';
import { applyCacheHeaders, maxAgeSecondsOf, type CacheSource } from '../cache/index.js';

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
 * Sends a JSON body built from cached data with `X-Cache`, `ETag` and `Cache-Control` (the
 * library's one header writer, through `applyCacheHeaders`); a matching `If-None-Match` gets 304
 * without a body.
 */
export function sendServed<T>(req: IncomingMessage, res: ServerResponse, served: Served<T>): void {
  const body = JSON.stringify(served.body);
  for (const [name, value] of Object.entries(served.headers ?? {})) res.setHeader(name, value);
  const { notModified } = applyCacheHeaders(req, res, {
    source: served.source,
    maxAgeSeconds: served.maxAgeSeconds,
    body,
  });
  if (notModified) {
    res.statusCode = 304;
    res.end();
    return;
  }
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
