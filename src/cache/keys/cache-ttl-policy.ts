import { CacheValidationError } from '../errors/cache-errors.js';
import { positiveNumber } from '../util/arguments.js';
import { CacheKeyType, isCacheKeyType } from './cache-key-type.js';

/** Default time-to-live per key type, in seconds (DESIGN §2). */
export const DEFAULT_TTL_SECONDS: Readonly<Record<CacheKeyType, number>> = {
  [CacheKeyType.STOCK_PRICE]: 300,
  [CacheKeyType.FINANCIAL_DATA]: 86_400,
  [CacheKeyType.NEWS_DATA]: 3_600,
  [CacheKeyType.AI_ANALYSIS]: 21_600,
  [CacheKeyType.USER_SESSION]: 1_800,
  [CacheKeyType.API_QUOTA]: 86_400,
  [CacheKeyType.MARKET_DATA]: 300,
  [CacheKeyType.PRICE_BARS]: 86_400,
};

/**
 * Default maximum staleness per key type, in seconds: how long after an entry expires it may
 * still be served (fail-safe) when the source fails. Sessions and quotas are never served stale.
 */
export const DEFAULT_MAX_STALENESS_SECONDS: Readonly<Record<CacheKeyType, number>> = {
  [CacheKeyType.STOCK_PRICE]: 900,
  [CacheKeyType.FINANCIAL_DATA]: 7 * 86_400,
  [CacheKeyType.NEWS_DATA]: 6 * 3_600,
  [CacheKeyType.AI_ANALYSIS]: 86_400,
  [CacheKeyType.USER_SESSION]: 0,
  [CacheKeyType.API_QUOTA]: 0,
  [CacheKeyType.MARKET_DATA]: 900,
  [CacheKeyType.PRICE_BARS]: 7 * 86_400,
};

/** Options of `CacheTTLPolicy`. */
export interface CacheTTLPolicyOptions {
  /** Per-type TTL overrides, in seconds. */
  ttlSeconds?: Partial<Record<CacheKeyType, number>>;
  /** Per-type maximum staleness overrides, in seconds past expiry. */
  maxStalenessSeconds?: Partial<Record<CacheKeyType, number>>;
  /** Random jitter added to TTLs, in percent (0–50) of the TTL, to spread expiry. Default 0. */
  jitterPercent?: number;
  /** TTL for keys with no key type, in seconds. Default 300. */
  defaultTtlSeconds?: number;
}

/** TTLs and staleness limits per key type, with overrides and optional jitter. */
export class CacheTTLPolicy {
  private readonly ttl: Record<CacheKeyType, number>;
  private readonly stale: Record<CacheKeyType, number>;
  private readonly jitterPercent: number;
  /** TTL, in seconds, for keys with no key type. */
  readonly defaultTtlSeconds: number;

  constructor(options: CacheTTLPolicyOptions = {}) {
    this.ttl = { ...DEFAULT_TTL_SECONDS };
    this.stale = { ...DEFAULT_MAX_STALENESS_SECONDS };
    for (const [type, seconds] of Object.entries(options.ttlSeconds ?? {})) {
      this.ttl[checkType(type, 'ttlSeconds')] = positiveNumber(
        seconds,
        `ttlSeconds.${type}`,
        'seconds',
      );
    }
    for (const [type, seconds] of Object.entries(options.maxStalenessSeconds ?? {})) {
      this.stale[checkType(type, 'maxStalenessSeconds')] = positiveNumber(
        seconds,
        `maxStalenessSeconds.${type}`,
        'seconds',
        true,
      );
    }
    const jitter = options.jitterPercent ?? 0;
    if (!Number.isFinite(jitter) || jitter < 0 || jitter > 50) {
      throw new CacheValidationError(
        'jitterPercent',
        'jitterPercent must be a number from 0 to 50',
      );
    }
    this.jitterPercent = jitter;
    this.defaultTtlSeconds = positiveNumber(
      options.defaultTtlSeconds ?? 300,
      'defaultTtlSeconds',
      'seconds',
    );
  }

  /** The TTL of `type` in seconds (without jitter). */
  ttlFor(type: CacheKeyType): number {
    return this.ttl[type];
  }

  /** The TTL of `type` (or the default TTL) in milliseconds, with jitter applied. */
  ttlMsFor(type: CacheKeyType | undefined): number {
    const base = (type ? this.ttl[type] : this.defaultTtlSeconds) * 1000;
    if (this.jitterPercent === 0) return base;
    return Math.round(base * (1 + (Math.random() * this.jitterPercent) / 100));
  }

  /** How long past expiry, in seconds, an entry of `type` may still be served stale. */
  maxStalenessFor(type: CacheKeyType | undefined): number {
    return type ? this.stale[type] : 0;
  }
}

function checkType(type: string, field: string): CacheKeyType {
  if (!isCacheKeyType(type))
    throw new CacheValidationError(`${field}.${type}`, `${field}: unknown key type '${type}'`);
  return type;
}
