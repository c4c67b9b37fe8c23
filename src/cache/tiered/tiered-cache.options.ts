import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { TtlInput } from '../keys/ttl.js';
import type { CacheSource } from './cache-stats.js';
import type { L1Options } from './l1-cache.js';

/** Tuning of the tiered cache; every duration in milliseconds. */
export interface TieredCacheOptions {
  l1: L1Options;
  /** Share of each TTL, at its end, during which a value is served stale while it is refreshed (0–100). Default 20. */
  swrPercent: number;
  /** Soft factory timeout in ms: with a stale value at hand, answer it after this and let the factory finish. Default: none. */
  softTimeoutMs?: number;
  /** Hard factory timeout in ms: past it the caller gets the stale value or `FactoryTimeoutError`. Default 10 000. */
  hardTimeoutMs: number;
  /** After a fail-safe serve, how long the stale value is served without calling the source again, in ms. Default 30 000. */
  failSafeThrottleMs: number;
  /** Distributed lock lifetime in ms. Default: hard timeout + 1 000. */
  lockTtlMs?: number;
  /** Longest a caller waits for another instance's factory before running its own, in ms. Default: the lock lifetime. */
  lockWaitMs?: number;
  /** Largest serialized value accepted, in bytes (UTF-16 code units). Default 4 MiB. */
  maxValueBytes: number;
  /** Id of this instance on the invalidation bus. Default: random. */
  instanceId?: string;
}

/** Per-call options of `getOrSet`, `get` and `set`. */
export interface TieredCallOptions {
  /** TTL: seconds, a duration string (`'5m'`) or an absolute `Date`. Default: the key type's TTL. */
  ttl?: TtlInput;
  /**
   * The TTL of a value the factory produced, when it depends on the value (e.g. how long the data
   * it carries stays fresh); `undefined` = `ttl`.
   */
  ttlOf?: (value: unknown) => TtlInput | undefined;
  /** Key type (TTL, staleness and stats); default: read from the key's first segment. */
  keyType?: CacheKeyType;
  /** Namespace the key lives in (cleared at once by `clearNamespace`). */
  namespace?: string;
  /** Overrides the soft timeout for this call, in ms. */
  softTimeoutMs?: number;
  /** Overrides the hard timeout for this call, in ms. */
  hardTimeoutMs?: number;
  /**
   * `set` only: when the source produced the value, in epoch ms (default: now). The write is
   * monotonic: it never replaces an entry with a larger `asOf`, in L2 or any L1.
   */
  asOf?: number;
}

/** A value with where it came from and when its source produced it. */
export interface Resolved<T> {
  value: T;
  source: CacheSource;
  /** Epoch ms when the source produced the value. */
  asOf: number;
}

/** One entry of `setMany`. */
export interface BatchEntry {
  key: string;
  value: unknown;
  /** TTL: seconds, a duration string or a `Date`. Default: the key type's TTL. */
  ttl?: TtlInput;
  keyType?: CacheKeyType;
  /** Seconds past expiry the value may still be served (fail-safe). Default: the key type's. */
  maxStalenessSeconds?: number;
  /** When the source produced the value, in epoch ms (default: now); monotonic as `set`'s. */
  asOf?: number;
}

/**
 * What a factory is told about its run: `miss` when no value is held for the key, `refresh` when
 * a stale one is (a stale-while-revalidate refresh, or a run while an expired value is kept for
 * fail-safe); `staleAsOf` is then that value's `asOf` (epoch ms).
 */
export interface FactoryContext {
  kind: 'miss' | 'refresh';
  staleAsOf?: number;
}

/**
 * A factory producing the value on a miss or a refresh; it may be sync or async. It may ignore its
 * context: `() => …` factories are factories.
 */
export type Factory<T> = (context: FactoryContext) => Promise<T> | T;
