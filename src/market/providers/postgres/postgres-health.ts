/** Health of the PostgreSQL source: a bounded ping, and the schema migrated with capped back-off. */
import { performance } from 'node:perf_hooks';
import type { Pool } from 'pg';
import type { SourceHealth } from '../market-data.provider.js';
import { migrate } from './schema.js';

/** First wait before retrying a source unreachable at start, in milliseconds (then doubled each time). */
export const SOURCE_RETRY_INITIAL_MS = 500;

/** The ping: reads the `tickers` table, so a dropped database or a missing schema is `down` too. */
const PING_SQL = 'SELECT 1 FROM tickers LIMIT 1';

/** SQLSTATE of a missing table (the schema is gone: migrate again). */
const UNDEFINED_TABLE = '42P01';

/** Words for the failures an operator meets most; never the driver's message (it may name hosts). */
const FAILURE_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ETIMEDOUT: 'connection timed out',
  '3D000': 'database does not exist',
  [UNDEFINED_TABLE]: 'schema missing',
  '28P01': 'authentication failed',
  '28000': 'authorization failed',
  '57P01': 'terminated by the administrator',
  '57P03': 'server starting up or shutting down',
  '53300': 'too many connections',
};

/** A short description of a PostgreSQL failure (`connection refused (ECONNREFUSED)`), without host names or credentials. */
export function describePostgresFailure(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const words = FAILURE_WORDS[code];
    return words ? `${words} (${code})` : `error ${code}`;
  }
  const message = err instanceof Error ? err.message : '';
  if (/timeout/i.test(message)) return 'connection timed out';
  return 'unreachable';
}

/** The SQLSTATE or system code of `err`, if any. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Pings `pool` within `timeoutMs` milliseconds: `up` with the round trip, or `down` with the reason
 * (the query keeps running past the bound, bounded by the pool's own timeouts). Never throws.
 * `onSchemaMissing` is called when the tables are gone.
 */
export async function pingPostgres(
  pool: Pool,
  timeoutMs: number,
  onSchemaMissing: () => void,
): Promise<SourceHealth> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const query = pool.query(PING_SQL).then(
    () => undefined,
    (err: unknown) => err,
  );
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeoutMs);
    timer.unref();
  });
  const outcome = await Promise.race([query, late]).finally(() => clearTimeout(timer));
  const latencyMs = Math.round((performance.now() - start) * 100) / 100;
  if (outcome === undefined) return { status: 'up', latencyMs };
  if (outcome === 'late')
    return { status: 'down', latencyMs, reason: `no answer within ${timeoutMs} ms` };
  if (codeOf(outcome) === UNDEFINED_TABLE) onSchemaMissing();
  return { status: 'down', latencyMs, reason: describePostgresFailure(outcome) };
}

/**
 * Gets the source's schema in place: `migrate` now, and while it fails (server down, database
 * missing) again in the background after 0.5 s, 1 s, 2 s, … capped at `maxDelayMs`, until it
 * succeeds or `close` is called. Quiet: its state is read by the health check, which logs changes.
 */
export class PostgresConnector {
  private isReady = false;
  private failure = 'not connected yet';
  private delayMs = SOURCE_RETRY_INITIAL_MS;
  private timer: NodeJS.Timeout | undefined;
  private attempt: Promise<boolean> | undefined;
  private closed = false;

  constructor(
    private readonly pool: Pool,
    /** Longest wait between two attempts, in milliseconds. */
    private readonly maxDelayMs: number,
  ) {}

  /** True once the schema is in place (until `restart`). */
  get ready(): boolean {
    return this.isReady;
  }

  /** Why the last attempt failed (no host names), while not ready. */
  get reason(): string {
    return this.failure;
  }

  /** Tries now; on failure keeps retrying in the background. Resolves true when the schema is ready now. Never throws. */
  start(): Promise<boolean> {
    this.attempt ??= this.run().finally(() => {
      this.attempt = undefined;
    });
    return this.attempt;
  }

  /** The schema went missing: not ready any more, and retrying from the shortest wait. */
  restart(): void {
    if (this.closed || !this.isReady) return;
    this.isReady = false;
    this.failure = describePostgresFailure({ code: UNDEFINED_TABLE });
    this.delayMs = SOURCE_RETRY_INITIAL_MS;
    void this.start();
  }

  /** Stops retrying. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<boolean> {
    try {
      await migrate(this.pool);
      this.isReady = true;
      this.delayMs = SOURCE_RETRY_INITIAL_MS;
      return true;
    } catch (err) {
      this.failure = describePostgresFailure(err);
      this.schedule();
      return false;
    }
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    const wait = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.start();
    }, wait);
    this.timer.unref();
  }
}
