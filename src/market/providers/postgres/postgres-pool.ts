/** Options of the PostgreSQL provider and the connection pool it opens from them. */
import { Pool, type PoolConfig } from 'pg';
import { MarketDataError } from '../market-data.errors.js';

/** Options of the PostgreSQL provider. */
export interface PostgresProviderOptions {
  /** Connection string. Default: `process.env.DATABASE_URL`. Ignored when `pool` is given. */
  connectionString?: string;
  /** A pool to use instead of creating one; `close()` leaves it open. */
  pool?: Pool;
  /** Rows fetched per keyset page when streaming trades. Default 1000. */
  pageSize?: number;
  /** Server-side statement timeout per query, in milliseconds. Default 10000. */
  queryTimeoutMs?: number;
  /** Time allowed to open a connection, in milliseconds. Default 5000. */
  connectTimeoutMs?: number;
  /** Maximum connections of the pool the provider creates. Default 10. */
  maxConnections?: number;
  /** Today's date (`YYYY-MM-DD`, UTC); nothing after it is answered. Default: the system clock. */
  today?: () => string;
}

/** The pool a provider queries, and whether the provider created it (and so must end it). */
export interface ProviderPool {
  pool: Pool;
  owned: boolean;
}

/**
 * The given pool, or a new one from the connection string (or `DATABASE_URL`) with the options'
 * limits and timeouts; `onIdleError` counts errors of idle pooled connections of a new pool.
 * Throws `INVALID_ARGUMENT` (`connectionString`) when there is nothing to connect to.
 */
export function openProviderPool(
  options: PostgresProviderOptions,
  onIdleError: () => void,
): ProviderPool {
  if (options.pool) return { pool: options.pool, owned: false };
  const connectionString = options.connectionString ?? process.env.DATABASE_URL;
  if (!connectionString)
    throw MarketDataError.invalidArgument(
      'connectionString',
      'no connection string given and DATABASE_URL is not set',
    );
  const config: PoolConfig = {
    connectionString,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    statement_timeout: options.queryTimeoutMs ?? 10_000,
  };
  const pool = new Pool(config);
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', onIdleError);
  return { pool, owned: true };
}
