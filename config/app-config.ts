import {
  CacheValidationError,
  MARKET_CACHE_DEFAULTS,
  isIsoDay,
  type MarketCacheModuleOptions,
} from '../src/cache/index.js';
import { CLOSE_RESERVE_FRACTION } from '../src/health/graceful-drain.js';
import { envInt } from './edge-config.js';
import { loadShutdownConfig } from './shutdown-config.js';
import { loadVendorConfig, type VendorConfig } from './vendor-config.js';

/** The app's settings, read from the environment (DESIGN §5), with defaults. */
export interface AppConfig {
  /** HTTP port. Env `PORT`, default 3000. */
  port: number;
  /** Cache module options derived from `REDIS_*`, `CACHE_*`, `API_DAILY_QUOTA`. */
  cache: MarketCacheModuleOptions;
  /** PostgreSQL source; unset = the built-in synthetic source. Env `DATABASE_URL`. */
  databaseUrl?: string;
  /** Admin key for `/api/cache/*` admin routes; unset = admin routes refuse every request. Env `ADMIN_API_KEY`. */
  adminApiKey?: string;
  /** Requests per API key per day. Env `API_DAILY_QUOTA`, default `MARKET_CACHE_DEFAULTS.apiDailyQuota` (1000). */
  apiDailyQuota: number;
  /** Simulated vendor latency of the synthetic source, in ms. Env `SYNTHETIC_LATENCY_MS`, default 0. */
  syntheticLatencyMs: number;
  /** Longest date range of `/bars`, in days. Env `MAX_BARS_RANGE_DAYS`, default 3660. */
  maxBarsRangeDays: number;
  /** Longest date range of `/api/trades/query`, in days. Env `MAX_TRADES_RANGE_DAYS`, default 366. */
  maxTradesRangeDays: number;
  /** Most concurrent `/api/trades/query` streams per instance (0 = no limit); past it 503 with `Retry-After`. Env `MAX_CONCURRENT_STREAMS`, default 8. */
  maxConcurrentStreams: number;
  /** Longest synchronous run of the streams per event-loop turn, in ms (then they yield to other requests). Env `STREAM_SLICE_MS`, default 3. */
  streamSliceMs: number;
  /** Earliest day of bars and trades ever served: days before it (or before the source's first day, if later) are answered empty without asking the source or writing cache keys. Env `MARKET_EARLIEST_DATE` (`YYYY-MM-DD`), default `1990-01-01`. */
  marketEarliestDate: string;
  /** Period of the data source's background health check, in ms. Env `SOURCE_HEALTH_INTERVAL_MS`, default 5000. */
  sourceHealthIntervalMs: number;
  /** Bound of one data-source health check (PostgreSQL `SELECT 1`), in ms. Env `SOURCE_HEALTH_TIMEOUT_MS`, default 1000. */
  sourceHealthTimeoutMs: number;
  /** Longest wait between two attempts to reach a data source unreachable at start (back-off from 500 ms, doubling), in ms. Env `SOURCE_RETRY_MAX_MS`, default 30000. */
  sourceRetryMaxMs: number;
  /** The data source (`DATA_SOURCE`) and the HTTP vendor's settings and call budget (`VENDOR_*`); see `config/vendor-config.ts`. Absent: chosen from `databaseUrl`. */
  vendor?: VendorConfig;
}

/** Default of `marketEarliestDate` (env `MARKET_EARLIEST_DATE`). */
export const DEFAULT_MARKET_EARLIEST_DATE = '1990-01-01';

/** A `YYYY-MM-DD` setting of the environment, or its default; anything else throws an error naming the variable. */
function envDay(env: Env, name: string, fallback: string): string {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!isIsoDay(raw))
    throw new CacheValidationError(name, `${name} must be a date YYYY-MM-DD, got '${raw}'`);
  return raw;
}

type Env = Record<string, string | undefined>;

/** Parses and validates the environment; a bad value throws an error naming the variable. */
export function loadAppConfig(env: Env = process.env): AppConfig {
  const list = (name: string) =>
    env[name]
      ? env[name]!.split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined;
  const driver = env.CACHE_DRIVER?.trim();
  if (driver && !['redis', 'memory', 'file'].includes(driver))
    throw new CacheValidationError(
      'CACHE_DRIVER',
      `CACHE_DRIVER must be redis, memory or file, got '${driver}'`,
    );
  const apiDailyQuota = envInt(env, 'API_DAILY_QUOTA', MARKET_CACHE_DEFAULTS.apiDailyQuota, 0);
  const vendor = loadVendorConfig(env);
  const cache: MarketCacheModuleOptions = {
    driver: driver as MarketCacheModuleOptions['driver'],
    redisUrl: env.REDIS_URL || undefined,
    clusterNodes: list('REDIS_CLUSTER_NODES'),
    sentinels: list('REDIS_SENTINELS'),
    sentinelName: env.REDIS_SENTINEL_NAME || undefined,
    keyPrefix: env.CACHE_KEY_PREFIX || undefined,
    fileDirectory: env.CACHE_FILE_DIR || undefined,
    ttlSeconds: vendor.dataSource === 'http' ? vendor.ttlSeconds : undefined,
    // A lock holder refused by the vendor budget writes nothing: waiters stop waiting sooner.
    lockWaitMs: vendor.dataSource === 'http' ? vendor.lockWaitMs : undefined,
    fileCaps: fileCapsFromEnv(env),
    apiDailyQuota,
    // The cache's share of the close reserve (see `GracefulDrain`): a quarter of it (250 ms by
    // default), leaving the rest to close the connections and the app.
    shutdownWaitMs: Math.floor(
      Math.min(1000, loadShutdownConfig(env).timeoutMs * CLOSE_RESERVE_FRACTION) / 4,
    ),
  };
  for (const k of Object.keys(cache) as (keyof MarketCacheModuleOptions)[])
    if (cache[k] === undefined) delete cache[k];
  return {
    port: envInt(env, 'PORT', 3000, 0, 65535),
    cache,
    databaseUrl: env.DATABASE_URL || undefined,
    adminApiKey: env.ADMIN_API_KEY || undefined,
    apiDailyQuota,
    syntheticLatencyMs: envInt(env, 'SYNTHETIC_LATENCY_MS', 0, 0, 60_000),
    maxBarsRangeDays: envInt(env, 'MAX_BARS_RANGE_DAYS', 3660, 1),
    maxTradesRangeDays: envInt(env, 'MAX_TRADES_RANGE_DAYS', 366, 1),
    maxConcurrentStreams: envInt(env, 'MAX_CONCURRENT_STREAMS', 8, 0, 10_000),
    streamSliceMs: envInt(env, 'STREAM_SLICE_MS', 3, 1, 1000),
    marketEarliestDate: envDay(env, 'MARKET_EARLIEST_DATE', DEFAULT_MARKET_EARLIEST_DATE),
    sourceHealthIntervalMs: envInt(env, 'SOURCE_HEALTH_INTERVAL_MS', 5000, 100, 3_600_000),
    sourceHealthTimeoutMs: envInt(env, 'SOURCE_HEALTH_TIMEOUT_MS', 1000, 50, 60_000),
    sourceRetryMaxMs: envInt(env, 'SOURCE_RETRY_MAX_MS', 30_000, 500, 3_600_000),
    vendor,
  };
}

/**
 * The file driver's caps from `CACHE_FILE_MAX_ENTRIES_PER_CATEGORY`, `CACHE_FILE_MAX_BYTES_PER_CATEGORY`
 * (at least 1) and the totals `CACHE_FILE_MAX_ENTRIES`, `CACHE_FILE_MAX_BYTES` (0 = none); only
 * those set; `undefined` when none is. A bad value throws an error naming the variable.
 */
function fileCapsFromEnv(env: Env): MarketCacheModuleOptions['fileCaps'] {
  const caps: NonNullable<MarketCacheModuleOptions['fileCaps']> = {};
  const set = (field: keyof typeof caps, name: string, min: number) => {
    if (env[name] !== undefined && env[name] !== '') caps[field] = envInt(env, name, 0, min);
  };
  set('maxEntriesPerCategory', 'CACHE_FILE_MAX_ENTRIES_PER_CATEGORY', 1);
  set('maxBytesPerCategory', 'CACHE_FILE_MAX_BYTES_PER_CATEGORY', 1);
  set('maxEntries', 'CACHE_FILE_MAX_ENTRIES', 0);
  set('maxBytes', 'CACHE_FILE_MAX_BYTES', 0);
  return Object.keys(caps).length > 0 ? caps : undefined;
}

/** Injection token of the `AppConfig`. */
export const APP_CONFIG = 'MARKET_APP:CONFIG';
