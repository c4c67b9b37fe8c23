import { createHash } from 'node:crypto';
import type { CacheSource } from '../tiered/cache-stats.js';

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

/** Minimal request/response surfaces (Express-compatible) the header helpers need. */
export interface HeaderRequest {
  headers: Record<string, string | string[] | undefined>;
}
export interface HeaderResponse {
  setHeader(name: string, value: string | number): unknown;
}

/**
 * Sets `X-Cache`, `ETag` and `Cache-Control: max-age` for a response built from cached data,
 * and answers whether the client's `If-None-Match` matches (the caller then sends 304, no body).
 * `maxAgeSeconds` is the time left of the entry's TTL (0 for stale data).
 */
export function applyCacheHeaders(
  req: HeaderRequest,
  res: HeaderResponse,
  opts: { source: CacheSource; maxAgeSeconds: number; body: string },
): { notModified: boolean; etag: string } {
  const etag = etagOf(opts.body);
  res.setHeader('X-Cache', xCacheOf(opts.source));
  res.setHeader('ETag', etag);
  res.setHeader('Cache-Control', `max-age=${Math.max(0, Math.floor(opts.maxAgeSeconds))}`);
  return { notModified: matchesIfNoneMatch(req.headers['if-none-match'], etag), etag };
}
