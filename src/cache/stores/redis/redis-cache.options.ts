import type { CircuitBreakerOptions } from '../../util/circuit-breaker.js';
import type { RedisClient, RedisConnectionOptions } from './redis-connection.js';
import type { RedisProbeOptions } from './redis-probe.js';

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
  /** Background probe that keeps `describe()` current: PING interval (default 1000 ms, 0 = off), INFO every n-th round (default 5), refusal hold (default 30000 ms). */
  probe?: Omit<RedisProbeOptions, 'timeoutMs'>;
}
