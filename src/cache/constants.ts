/** Injection token of the validated module options. */
export const MARKET_CACHE_OPTIONS = 'MARKET_CACHE:OPTIONS';
/** Injection token of the L2 `CacheStore` (RedisCache, MemoryStore or FileStore). */
export const MARKET_CACHE_STORE = 'MARKET_CACHE:STORE';
/** Metadata key: `@CacheResponse` options on a route handler. */
export const CACHE_RESPONSE_METADATA = 'market_cache:response';
/** Metadata key: TTL override on a route handler. */
export const CACHE_TTL_METADATA = 'market_cache:ttl';
/** Injection token of the admin key (`string | undefined`) `AdminKeyGuard` compares against; unset = every admin call is refused. */
export const MARKET_CACHE_ADMIN_KEY = 'MARKET_CACHE:ADMIN_KEY';
/** Injection token of the `QuotaGuardOptions` (limit per window, window, paths it applies to). */
export const MARKET_CACHE_QUOTA_OPTIONS = 'MARKET_CACHE:QUOTA_OPTIONS';
/** Injection token of the `CacheHealthThresholds` of `CacheHealthIndicator`. */
export const MARKET_CACHE_HEALTH_THRESHOLDS = 'MARKET_CACHE:HEALTH_THRESHOLDS';
/** Injection token of the `CacheMetricsOptions` of `CacheMetrics`. */
export const MARKET_CACHE_METRICS_OPTIONS = 'MARKET_CACHE:METRICS_OPTIONS';
/** Default Keyv namespace of the keys written through `CACHE_MANAGER` (`{prefix}:cache_manager:{key}`). */
export const CACHE_MANAGER_NAMESPACE = 'cache_manager';
