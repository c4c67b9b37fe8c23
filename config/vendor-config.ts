import { CacheValidationError, isCacheKeyType, type CacheKeyType } from '../src/cache/index.js';
import { envInt } from './edge-config.js';

/** Where the app's market data comes from. */
export type DataSource = 'synthetic' | 'postgres' | 'http';

/** Settings of the HTTP market-data vendor and of its shared call budget (env `DATA_SOURCE`, `VENDOR_*`). */
export interface VendorConfig {
  /**
   * The source: env `DATA_SOURCE` = `synthetic` | `postgres` | `http`. When unset: `postgres` when
   * `DATABASE_URL` is set, else `synthetic`.
   */
  dataSource: DataSource;
  /** Base URL of the vendor's REST API (`http://` or `https://`). Env `VENDOR_BASE_URL`; required with `DATA_SOURCE=http`. */
  baseUrl?: string;
  /** API key sent in `X-API-Key`. Env `VENDOR_API_KEY`; never logged. */
  apiKey?: string;
  /** Vendor calls allowed per budget window, shared by every instance. Env `VENDOR_CALLS_PER_MINUTE`, default 60. */
  callsPerMinute: number;
  /** Vendor calls allowed per UTC day, shared by every instance; 0 = no daily limit. Env `VENDOR_CALLS_PER_DAY`, default 50 000. */
  callsPerDay: number;
  /** Instances expected to share the budget: while Redis is down each takes from budget ÷ this. Env `VENDOR_EXPECTED_INSTANCES`, default 1. */
  expectedInstances: number;
  /**
   * Length of the budget's sliding window, in ms. Env `VENDOR_BUDGET_WINDOW_MS`, default 61 000:
   * the vendor's minute plus one second of slack for network delays (a call granted at the end
   * of one window must not land in the vendor's previous one). Tests use a short window.
   */
  budgetWindowMs: number;
  /** Share of each limit, in percent, kept for misses: refreshes of stale data never spend it. Env `VENDOR_MISS_RESERVE_PERCENT`, default 20. */
  missReservePercent: number;
  /** Bound on connecting and receiving the response headers, in ms. Env `VENDOR_CONNECT_TIMEOUT_MS`, default 2000. */
  connectTimeoutMs: number;
  /** Bound on one whole request (headers and body), in ms. Env `VENDOR_REQUEST_TIMEOUT_MS`, default 5000. */
  requestTimeoutMs: number;
  /** Retries after a network error, a timeout, a 5xx or a short 429. Env `VENDOR_RETRIES`, default 2. */
  retries: number;
  /** First back-off before a retry, in ms (doubling, full jitter, capped at 8×). Env `VENDOR_RETRY_BASE_MS`, default 200. */
  retryBaseMs: number;
  /** Longest `Retry-After` of a 429 waited for before retrying, in ms; a longer one fails the call at once (503 with `Retry-After`). Env `VENDOR_MAX_RETRY_AFTER_MS`, default 2000. */
  maxRetryAfterMs: number;
  /**
   * Longest wait of a request for another instance's vendor call of the same key, in ms (the
   * cache's `lockWaitMs`, with `DATA_SOURCE=http` only): a call refused by the budget writes
   * nothing, and waiters would otherwise wait the whole default (11 s). Env `VENDOR_LOCK_WAIT_MS`, default 500.
   */
  lockWaitMs: number;
  /** How long the vendor's ticker list is reused, in ms. Env `VENDOR_TICKERS_TTL_MS`, default 3 600 000 (1 hour). */
  tickersTtlMs: number;
  /**
   * TTL overrides (seconds) per key type of data read from the vendor, e.g. `stock_price=120`;
   * applied only with `DATA_SOURCE=http`. Env `VENDOR_TTL_SECONDS`; default none (the key types' TTLs).
   */
  ttlSeconds?: Partial<Record<CacheKeyType, number>>;
}

type Env = Record<string, string | undefined>;

const SOURCES: readonly DataSource[] = ['synthetic', 'postgres', 'http'];

/** Parses and validates the vendor settings; a bad value throws `CacheValidationError` naming the variable. */
export function loadVendorConfig(env: Env = process.env): VendorConfig {
  const raw = env.DATA_SOURCE?.trim();
  if (raw && !SOURCES.includes(raw as DataSource))
    throw new CacheValidationError(
      'DATA_SOURCE',
      `DATA_SOURCE must be synthetic, postgres or http, got '${raw.slice(0, 32)}'`,
    );
  const dataSource =
    (raw as DataSource | undefined) || (env.DATABASE_URL ? 'postgres' : 'synthetic');
  const baseUrl = env.VENDOR_BASE_URL?.trim() || undefined;
  if (baseUrl !== undefined && !/^https?:\/\/[^\s/]+/i.test(baseUrl))
    throw new CacheValidationError(
      'VENDOR_BASE_URL',
      'VENDOR_BASE_URL must be an http:// or https:// URL',
    );
  if (dataSource === 'http' && baseUrl === undefined)
    throw new CacheValidationError(
      'VENDOR_BASE_URL',
      'VENDOR_BASE_URL is required with DATA_SOURCE=http',
    );
  if (dataSource === 'postgres' && !env.DATABASE_URL)
    throw new CacheValidationError(
      'DATABASE_URL',
      'DATABASE_URL is required with DATA_SOURCE=postgres',
    );
  return {
    dataSource,
    baseUrl,
    apiKey: env.VENDOR_API_KEY || undefined,
    callsPerMinute: envInt(env, 'VENDOR_CALLS_PER_MINUTE', 60, 1, 1_000_000),
    callsPerDay: envInt(env, 'VENDOR_CALLS_PER_DAY', 50_000, 0, 1_000_000_000),
    expectedInstances: envInt(env, 'VENDOR_EXPECTED_INSTANCES', 1, 1, 10_000),
    budgetWindowMs: envInt(env, 'VENDOR_BUDGET_WINDOW_MS', 61_000, 100, 86_400_000),
    missReservePercent: envInt(env, 'VENDOR_MISS_RESERVE_PERCENT', 20, 0, 100),
    connectTimeoutMs: envInt(env, 'VENDOR_CONNECT_TIMEOUT_MS', 2000, 1, 120_000),
    requestTimeoutMs: envInt(env, 'VENDOR_REQUEST_TIMEOUT_MS', 5000, 1, 300_000),
    retries: envInt(env, 'VENDOR_RETRIES', 2, 0, 10),
    retryBaseMs: envInt(env, 'VENDOR_RETRY_BASE_MS', 200, 0, 60_000),
    maxRetryAfterMs: envInt(env, 'VENDOR_MAX_RETRY_AFTER_MS', 2000, 0, 300_000),
    tickersTtlMs: envInt(env, 'VENDOR_TICKERS_TTL_MS', 3_600_000, 1000, 86_400_000),
    lockWaitMs: envInt(env, 'VENDOR_LOCK_WAIT_MS', 500, 0, 60_000),
    ttlSeconds: parseTtlOverrides(env.VENDOR_TTL_SECONDS),
  };
}

/** `type=seconds,…` → overrides; a bad entry throws naming `VENDOR_TTL_SECONDS`. */
function parseTtlOverrides(raw: string | undefined): VendorConfig['ttlSeconds'] {
  if (!raw?.trim()) return undefined;
  const out: Partial<Record<CacheKeyType, number>> = {};
  for (const part of raw.split(',')) {
    const [type, value] = part.split('=').map((s) => s.trim());
    const seconds = Number(value);
    if (!isCacheKeyType(type) || !Number.isFinite(seconds) || seconds <= 0)
      throw new CacheValidationError(
        'VENDOR_TTL_SECONDS',
        `VENDOR_TTL_SECONDS must be key_type=seconds pairs (e.g. stock_price=120), got '${part.slice(0, 40)}'`,
      );
    out[type] = seconds;
  }
  return out;
}
