import { createHash } from 'node:crypto';
import type { CacheSource } from '../tiered/cache-stats.js';
import { CREDENTIAL_HEADERS } from './credentials.js';

/** The `X-Cache` value of a source: cache tiers are HIT, the factory MISS, stale values STALE. */
export function xCacheOf(source: CacheSource): 'HIT' | 'MISS' | 'STALE' {
  return source === 'factory' ? 'MISS' : source === 'stale' ? 'STALE' : 'HIT';
}

/** A strong ETag of a response body (SHA-1 of its bytes, base64url). */
export function etagOf(body: string | Buffer): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}

/** True when an `If-None-Match` header matches `etag` (also `*` and weak forms). */
export function matchesIfNoneMatch(header: string | string[] | undefined, etag: string): boolean {
  if (!header) return false;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.trim() === '*') return true;
  return text.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/**
 * Seconds left of a `ttlSeconds` entry produced at `asOf` (epoch ms), at least 0; 0 for stale
 * data. Rounded to the nearest second unless another `rounding` is given.
 */
export function maxAgeSecondsOf(
  source: CacheSource,
  asOf: number,
  ttlSeconds: number,
  rounding: (seconds: number) => number = Math.round,
): number {
  return source === 'stale' ? 0 : Math.max(0, rounding(ttlSeconds - (Date.now() - asOf) / 1000));
}

/** Minimal request surface (Express-compatible) the header helpers read. */
export interface HeaderRequest {
  headers: Record<string, string | string[] | undefined>;
}
/** Minimal response surface (Express-compatible) the header helpers write. */
export interface HeaderResponse {
  setHeader(name: string, value: string | number): unknown;
}

/** The cache headers of one response built from cached data. */
export interface CacheHeaderFields {
  /** Where the data came from: `X-Cache`. */
  source: CacheSource;
  /** A strong ETag (`etagOf`). */
  etag: string;
  /** Seconds the response may be reused (`Cache-Control: max-age`; floored, at least 0). */
  maxAgeSeconds: number;
  /** A per-identity answer: `Cache-Control: private, max-age=…`. Default false. */
  personal?: boolean;
  /** `Last-Modified`, as an HTTP date; not written when absent. */
  lastModified?: string;
  /** `Vary`; not written when absent. */
  vary?: string;
}

/**
 * The one writer of the cache headers: `X-Cache`, `ETag`, `Cache-Control: [private, ]max-age`,
 * then `Last-Modified` and `Vary` when given, in that order.
 */
export function writeCacheHeaders(res: HeaderResponse, fields: CacheHeaderFields): void {
  const maxAge = Math.max(0, Math.floor(fields.maxAgeSeconds));
  res.setHeader('X-Cache', xCacheOf(fields.source));
  res.setHeader('ETag', fields.etag);
  res.setHeader(
    'Cache-Control',
    fields.personal ? `private, max-age=${maxAge}` : `max-age=${maxAge}`,
  );
  if (fields.lastModified !== undefined) res.setHeader('Last-Modified', fields.lastModified);
  if (fields.vary !== undefined) res.setHeader('Vary', fields.vary);
}

/** True when a request carries a credential header (`Authorization`, `X-API-Key` or `Cookie`), even an empty one. */
export function carriesCredentials(req: HeaderRequest): boolean {
  return CREDENTIAL_HEADERS.some((name) => req.headers[name] !== undefined);
}

/**
 * Writes the cache headers of a response built from cached data (`writeCacheHeaders`, ETag of
 * `body`) and answers whether the client's `If-None-Match` matches (the caller then sends 304,
 * no body). `maxAgeSeconds` is the time left of the entry's TTL (0 for stale data). The answer to
 * a request carrying credentials (`carriesCredentials`), or with `personal: true`, is
 * `Cache-Control: private`: no shared cache may keep it.
 */
export function applyCacheHeaders(
  req: HeaderRequest,
  res: HeaderResponse,
  opts: { source: CacheSource; maxAgeSeconds: number; body: string; personal?: boolean },
): { notModified: boolean; etag: string } {
  const etag = etagOf(opts.body);
  writeCacheHeaders(res, {
    source: opts.source,
    etag,
    maxAgeSeconds: opts.maxAgeSeconds,
    personal: opts.personal === true || carriesCredentials(req),
  });
  return { notModified: matchesIfNoneMatch(req.headers['if-none-match'], etag), etag };
}
