import type { CircuitBreakerOptions } from '../../util/circuit-breaker.js';
import type { RedisClient, RedisConnectionOptions } from './redis-connection.js';

/** Options of `RedisCache`. */
export interface RedisCacheOptions extends RedisConnectionOptions {
  /** An existing ioredis client to use instead of creating one; it is not closed by `disconnect()`. */
  client?: RedisClient;
  /** Circuit breaker tuning (failures before opening; open time in ms). */
  breaker?: CircuitBreakerOptions;
  /** Send concurrent single-key `get`s of one tick as one MGET (per slot on a cluster). Default true. */
  coalesceReads?: boolean;
  /** Keys per SCAN step and per UNLINK batch. Default 500. */
  batchSize?: number;
}
