import { SetMetadata } from '@nestjs/common';
import { CACHE_RESPONSE_METADATA } from '../constants.js';
import { CacheValidationError } from '../errors/cache-errors.js';
import { isCacheKeyType, type CacheKeyType } from '../keys/cache-key-type.js';
import { ttlToMs } from '../keys/ttl.js';
import { CREDENTIAL_VARY } from './credentials.js';

/** What a cached response varies by, besides route and query: `'user'`, and/or request header names. */
export type CacheVaryBy = 'user' | readonly string[];

/** Options of `@CacheResponse` (read by `HttpCacheInterceptor`). */
export interface CacheResponseOptions {
  /** Key type: TTL, staleness limits and statistics. Default `market_data` (300 s). */
  keyType?: CacheKeyType;
  /** TTL: seconds (number) or a duration string (`'30s'`, `'5m'`). Default: the key type's TTL. */
  ttl?: number | string;
  /**
   * `'user'`: one entry per caller identity, always (anonymous callers share one). An array may
   * also name request headers (`['accept-language']`). Whatever this says, a request carrying
   * credentials (`Authorization`, `Cookie`, `X-API-Key`) is always cached per identity.
   */
  varyBy?: CacheVaryBy;
  /**
   * The query parameters the route accepts. Others are refused with 400 naming the parameter
   * (a cache hit must never answer a request the handler would refuse). Default: every query
   * parameter is part of the key.
   */
  query?: readonly string[];
  /**
   * The route parameter naming the entity the response is about, so that
   * `CacheManager.invalidateStockCache(ticker)` also drops its cached responses. Default `ticker`.
   */
  entityParam?: string;
  /**
   * Turns the entity parameter as sent into the entity as invalidation names it (e.g. tickers
   * upper-cased, as the routes themselves read them). Default: as sent.
   */
  normalizeEntity?: (value: string) => string;
}

/**
 * Caches a GET/HEAD route's response through `HttpCacheInterceptor` (registered globally, or with
 * `@UseInterceptors(HttpCacheInterceptor)`): `X-Cache`, `ETag` / 304, `Cache-Control: max-age`.
 * Options are checked here, when the class loads.
 */
export function CacheResponse(
  options: CacheResponseOptions = {},
): MethodDecorator & ClassDecorator {
  if (options.keyType !== undefined && !isCacheKeyType(options.keyType)) {
    throw new CacheValidationError(
      'keyType',
      `@CacheResponse: unknown keyType '${String(options.keyType)}'`,
    );
  }
  if (options.ttl !== undefined) ttlToMs(options.ttl, 'ttl');
  const { varyBy } = options;
  if (
    varyBy !== undefined &&
    varyBy !== 'user' &&
    !(Array.isArray(varyBy) && varyBy.every((h) => typeof h === 'string' && h.length > 0))
  ) {
    throw new CacheValidationError(
      'varyBy',
      "@CacheResponse: varyBy must be 'user' or an array of 'user' and header names",
    );
  }
  const frozen: CacheResponseOptions = Object.freeze({
    ...options,
    varyBy: Array.isArray(varyBy)
      ? Object.freeze(varyBy.map((h: string) => h.toLowerCase()))
      : varyBy,
    query: options.query ? Object.freeze([...options.query]) : undefined,
  });
  return SetMetadata(CACHE_RESPONSE_METADATA, frozen);
}

/** True when responses vary by caller identity for these options. */
export function wantsUser(options: CacheResponseOptions): boolean {
  return (
    options.varyBy === 'user' || (Array.isArray(options.varyBy) && options.varyBy.includes('user'))
  );
}

/** `Vary` header values per route options, computed once per route. */
const varyHeaders = new WeakMap<CacheResponseOptions, string>();

/** The `Vary` header of a cached route: the credential headers plus the headers it varies by. */
export function varyHeader(options: CacheResponseOptions): string {
  let value = varyHeaders.get(options);
  if (value === undefined) {
    const extra = Array.isArray(options.varyBy) ? options.varyBy.filter((h) => h !== 'user') : [];
    value = [CREDENTIAL_VARY, ...extra].join(', ');
    varyHeaders.set(options, value);
  }
  return value;
}
