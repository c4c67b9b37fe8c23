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
