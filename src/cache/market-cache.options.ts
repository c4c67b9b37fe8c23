import { plainToInstance } from 'class-transformer';
import {
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  validateSync,
  type ValidationError,
} from 'class-validator';
import { CacheValidationError } from './errors/cache-errors.js';
import type { CacheKeyType } from './keys/cache-key-type.js';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { RedisClient } from './stores/redis/redis-connection.js';
import type { FileStoreCaps } from './stores/file/file-store.options.js';

/** Options of `MarketCacheModule.forRoot`; validated at start-up (a bad one stops start-up, named). */
export class MarketCacheModuleOptions {
  /** L2 driver: `redis`, `memory` (embedded default) or `file`. Default: `redis` when a Redis setting is given, else `memory`. */
  @IsOptional()
  @IsIn(['redis', 'memory', 'file'])
  driver?: 'redis' | 'memory' | 'file';

  /** `redis://` or `rediss://` URL (REDIS_URL). */
  @IsOptional()
  @IsString()
  @Matches(/^rediss?:\/\//, { message: 'redisUrl must start with redis:// or rediss://' })
  redisUrl?: string;

  /** Cluster seed nodes, `host:port` (REDIS_CLUSTER_NODES). */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @Matches(/^(rediss?:\/\/)?[^\s:]+:\d{1,5}$/, {
    each: true,
    message: 'clusterNodes entries must be host:port',
  })
  clusterNodes?: string[];

  /** Sentinels, `host:port` (REDIS_SENTINELS). */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @Matches(/^[^\s:]+:\d{1,5}$/, { each: true, message: 'sentinels entries must be host:port' })
  sentinels?: string[];

  /** Master name watched by the sentinels (REDIS_SENTINEL_NAME); required with `sentinels`. */
  @ValidateIf((o: MarketCacheModuleOptions) => (o.sentinels?.length ?? 0) > 0)
  @IsString({ message: 'sentinelName is required with sentinels' })
  sentinelName?: string;

  /** Redis ACL user name. */
  @IsOptional()
  @IsString()
  username?: string;

  /** Redis password (never logged). */
  @IsOptional()
  @IsString()
  password?: string;

  /** TLS: `true` (system CAs) or Node TLS options such as `{ ca }` for a private CA (`rediss://` implies `true`). */
  @IsOptional()
  @ValidateIf((o: MarketCacheModuleOptions) => typeof o.tls !== 'object')
  @IsBoolean({ message: 'tls must be a boolean or an object of TLS options' })
  tls?: boolean | TlsOptions;

  /** An existing ioredis client to share; the module will not close it. */
  @IsOptional()
  @IsObject()
  client?: RedisClient;

  /** Global key prefix (tenant/app), CACHE_KEY_PREFIX. Default `mc`. */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*$/, {
    message: 'keyPrefix must be letters, digits, _ . - in :-separated parts',
  })
  keyPrefix?: string;

  /** Directory of the file driver (CACHE_FILE_DIR). Default `./.cache-files`. */
  @IsOptional()
  @IsString()
  fileDirectory?: string;

  /** Caps of the file driver (entries / bytes per category and in total, checked when the store is built). Default: 10 000 entries and 256 MiB per category, no total cap. */
  @IsOptional()
  @IsObject()
  fileCaps?: FileStoreCaps;

  /** Per-command Redis timeout, in milliseconds. Default 250. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(60_000)
  commandTimeoutMs?: number;

  /** Redis connect timeout, in milliseconds. Default 2000. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(60_000)
  connectTimeoutMs?: number;

  /** Per-key-type TTL overrides, in seconds. */
  @IsOptional()
  @IsObject()
  ttlSeconds?: Partial<Record<CacheKeyType, number>>;

  /** Per-key-type maximum staleness past expiry, in seconds. */
  @IsOptional()
  @IsObject()
  maxStalenessSeconds?: Partial<Record<CacheKeyType, number>>;

  /** TTL jitter in percent (0–50). Default 0. */
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(50)
  jitterPercent?: number;

  /** L1 entries. Default 10 000. */
  @IsOptional()
  @IsInt()
  @Min(1)
  l1MaxEntries?: number;

  /** L1 bytes. Default 64 MiB. */
  @IsOptional()
  @IsInt()
  @Min(1024)
  l1MaxBytes?: number;

  /** Largest value kept in L1, in bytes; larger ones live in L2 only. Default 1 MiB. */
  @IsOptional()
  @IsInt()
  @Min(1)
  l1MaxItemBytes?: number;

  /**
   * Longest an entry stays in L1, in seconds (then it is read from L2 again). Default 60. It bounds
   * how long another instance may serve an entry invalidated while the bus could not reach it.
   */
  @IsOptional()
  @IsNumber()
  @Min(0.001)
  l1MaxTtlSeconds?: number;

  /** Share of each TTL, at its end, served stale while refreshing, in percent. Default 20. */
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(100)
  swrPercent?: number;

  /** Soft factory timeout, in milliseconds (only when a stale value exists). Default: none. */
  @IsOptional()
  @IsInt()
  @Min(1)
  softTimeoutMs?: number;

  /** Hard factory timeout, in milliseconds. Default 10 000. */
  @IsOptional()
  @IsInt()
  @Min(1)
  hardTimeoutMs?: number;

  /** Fail-safe throttle after serving stale on a source failure, in milliseconds. Default 30 000. */
  @IsOptional()
  @IsInt()
  @Min(0)
  failSafeThrottleMs?: number;

  /** Longest wait for another instance's factory, in milliseconds. Default: hard timeout + 1 000. */
  @IsOptional()
  @IsInt()
  @Min(0)
  lockWaitMs?: number;

  /** Largest serialized value accepted, in bytes. Default 4 MiB. */
  @IsOptional()
  @IsInt()
  @Min(1)
  maxValueBytes?: number;

  /**
   * Longest TTL the module gives a key, in seconds: what a `CACHE_MANAGER` / Keyv write with no
   * TTL (or TTL 0) gets, and the cap of a longer one. Default 2 592 000 (30 days).
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(365 * 86_400)
  maxTtlSeconds?: number;

  /** Requests per API key per day (API_DAILY_QUOTA). Default 1000. */
  @IsOptional()
  @IsInt()
  @Min(0)
  apiDailyQuota?: number;

  /** When true, readiness fails while Redis is down (default false: degraded but ready). */
  @IsOptional()
  @IsBoolean()
  redisRequired?: boolean;

  /**
   * Longest the module waits at shutdown for its background work (late factory results, stale
   * refreshes and their writes) before it closes the store, in milliseconds; work still running
   * then is abandoned (its write is lost; nothing else is). Default 1000.
   */
  @IsOptional()
  @IsInt()
  @Min(0)
  shutdownWaitMs?: number;

  /** Id of this instance on the invalidation bus. Default: random. */
  @IsOptional()
  @IsString()
  instanceId?: string;
}

/**
 * The defaults `resolveOptions` fills in (each option's meaning and unit: `MarketCacheModuleOptions`).
 * The one place they live; `config/` reads them from here too.
 */
export const MARKET_CACHE_DEFAULTS = {
  keyPrefix: 'mc',
  fileDirectory: './.cache-files',
  commandTimeoutMs: 250,
  connectTimeoutMs: 2000,
  jitterPercent: 0,
  l1MaxEntries: 10_000,
  l1MaxBytes: 64 * 1024 * 1024,
  l1MaxItemBytes: 1024 * 1024,
  l1MaxTtlSeconds: 60,
  swrPercent: 20,
  hardTimeoutMs: 10_000,
  failSafeThrottleMs: 30_000,
  maxValueBytes: 4 * 1024 * 1024,
  maxTtlSeconds: 30 * 86_400,
  apiDailyQuota: 1000,
  redisRequired: false,
  shutdownWaitMs: 1000,
} as const satisfies MarketCacheModuleOptions;

/** Options after validation, with every default filled in. */
export type ResolvedMarketCacheOptions = Required<
  Pick<MarketCacheModuleOptions, 'driver' | keyof typeof MARKET_CACHE_DEFAULTS>
> &
  MarketCacheModuleOptions;

/** Validates options (class-validator) and fills defaults. Throws `CacheValidationError` naming the first bad option. */
export function resolveOptions(
  raw: MarketCacheModuleOptions | undefined,
): ResolvedMarketCacheOptions {
  const input = raw ?? {};
  const { client, tls, ...rest } = input;
  const plain = { ...rest, ...(typeof tls === 'object' ? {} : { tls }) };
  if (tls !== undefined && tls !== null && typeof tls !== 'boolean' && typeof tls !== 'object')
    throw new CacheValidationError('tls', 'tls must be a boolean or an object of TLS options');
  const instance = plainToInstance(MarketCacheModuleOptions, plain);
  const errors = validateSync(instance, { whitelist: false, forbidUnknownValues: false });
  const unknown = Object.keys(plain).filter((k) => !KNOWN.has(k));
  if (unknown.length)
    throw new CacheValidationError(unknown[0], `market-cache option '${unknown[0]}' is not known`);
  if (errors.length) {
    const first = flatten(errors)[0];
    throw new CacheValidationError(
      first.field,
      `market-cache option '${first.field}' is invalid: ${first.message}`,
    );
  }
  const hasRedis = Boolean(
    input.redisUrl || input.clusterNodes?.length || input.sentinels?.length || client,
  );
  const driver = input.driver ?? (hasRedis ? 'redis' : 'memory');
  if (driver === 'redis' && !hasRedis)
    throw new CacheValidationError(
      'redisUrl',
      "driver 'redis' needs redisUrl, clusterNodes or sentinels",
    );
  const hardTimeoutMs = input.hardTimeoutMs ?? MARKET_CACHE_DEFAULTS.hardTimeoutMs;
  if (input.softTimeoutMs !== undefined && input.softTimeoutMs >= hardTimeoutMs) {
    throw new CacheValidationError('softTimeoutMs', 'softTimeoutMs must be below hardTimeoutMs');
  }
  return {
    ...input,
    driver,
    keyPrefix: input.keyPrefix ?? MARKET_CACHE_DEFAULTS.keyPrefix,
    fileDirectory: input.fileDirectory ?? MARKET_CACHE_DEFAULTS.fileDirectory,
    commandTimeoutMs: input.commandTimeoutMs ?? MARKET_CACHE_DEFAULTS.commandTimeoutMs,
    connectTimeoutMs: input.connectTimeoutMs ?? MARKET_CACHE_DEFAULTS.connectTimeoutMs,
    jitterPercent: input.jitterPercent ?? MARKET_CACHE_DEFAULTS.jitterPercent,
    l1MaxEntries: input.l1MaxEntries ?? MARKET_CACHE_DEFAULTS.l1MaxEntries,
    l1MaxBytes: input.l1MaxBytes ?? MARKET_CACHE_DEFAULTS.l1MaxBytes,
    l1MaxItemBytes: input.l1MaxItemBytes ?? MARKET_CACHE_DEFAULTS.l1MaxItemBytes,
    l1MaxTtlSeconds: input.l1MaxTtlSeconds ?? MARKET_CACHE_DEFAULTS.l1MaxTtlSeconds,
    swrPercent: input.swrPercent ?? MARKET_CACHE_DEFAULTS.swrPercent,
    hardTimeoutMs,
    failSafeThrottleMs: input.failSafeThrottleMs ?? MARKET_CACHE_DEFAULTS.failSafeThrottleMs,
    maxValueBytes: input.maxValueBytes ?? MARKET_CACHE_DEFAULTS.maxValueBytes,
    maxTtlSeconds: input.maxTtlSeconds ?? MARKET_CACHE_DEFAULTS.maxTtlSeconds,
    apiDailyQuota: input.apiDailyQuota ?? MARKET_CACHE_DEFAULTS.apiDailyQuota,
    redisRequired: input.redisRequired ?? MARKET_CACHE_DEFAULTS.redisRequired,
    shutdownWaitMs: input.shutdownWaitMs ?? MARKET_CACHE_DEFAULTS.shutdownWaitMs,
  };
}

const KNOWN: ReadonlySet<string> = new Set([
  'driver',
  'redisUrl',
  'clusterNodes',
  'sentinels',
  'sentinelName',
  'username',
  'password',
  'tls',
  'client',
  'keyPrefix',
  'fileDirectory',
  'fileCaps',
  'commandTimeoutMs',
  'connectTimeoutMs',
  'ttlSeconds',
  'maxStalenessSeconds',
  'jitterPercent',
  'l1MaxEntries',
  'l1MaxBytes',
  'l1MaxItemBytes',
  'l1MaxTtlSeconds',
  'swrPercent',
  'softTimeoutMs',
  'hardTimeoutMs',
  'failSafeThrottleMs',
  'lockWaitMs',
  'maxValueBytes',
  'maxTtlSeconds',
  'apiDailyQuota',
  'redisRequired',
  'instanceId',
  'shutdownWaitMs',
  'isGlobal',
]);

function flatten(errors: ValidationError[], parent = ''): { field: string; message: string }[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, message: Object.values(e.constraints)[0] }] : [];
    return own.concat(flatten(e.children ?? [], field));
  });
}
