/** Injection token of the validated module options. */
export const MARKET_CACHE_OPTIONS = 'MARKET_CACHE:OPTIONS';
/** Injection token of the L2 `CacheStore` (RedisCache, MemoryStore or FileStore). */
export const MARKET_CACHE_STORE = 'MARKET_CACHE:STORE';
/** Metadata key: `@CacheResponse` options on a route handler. */
export const CACHE_RESPONSE_METADATA = 'market_cache:response';
/** Metadata key: TTL override on a route handler. */
export const CACHE_TTL_METADATA = 'market_cache:ttl';
