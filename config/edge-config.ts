import { CacheValidationError } from '../src/cache/index.js';

/** Limits of the HTTP edge: request bodies and server timeouts, read from the environment with defaults. */
export interface EdgeConfig {
  /** Largest request body (JSON or form), in bytes; past it 413. Env `HTTP_BODY_LIMIT_BYTES`, default 102400 (100 KiB). */
  bodyLimitBytes: number;
  /** Deepest nesting of objects and arrays in a JSON body; past it 400 (checked on the raw bytes before parsing). Env `HTTP_JSON_MAX_DEPTH`, default 32. */
  jsonMaxDepth: number;
  /** Longest time a client may take to send a request's headers, in ms; then 408 and the connection is closed. Env `HTTP_HEADERS_TIMEOUT_MS`, default 10000. */
  headersTimeoutMs: number;
  /** Longest time a client may take to send a whole request (headers and body), in ms; then 408. Responses (long streams) are not limited. Env `HTTP_REQUEST_TIMEOUT_MS`, default 30000. */
  requestTimeoutMs: number;
  /** How often the server checks the two timeouts, in ms (a slow client is dropped at most this late). Default 1000. */
  timeoutCheckIntervalMs: number;
  /** How long an idle keep-alive connection stays open, in ms; above the idle timeouts of common balancers (60 s) so the app never closes a connection a balancer is about to reuse. Env `HTTP_KEEP_ALIVE_TIMEOUT_MS`, default 65000. */
  keepAliveTimeoutMs: number;
}

/** The defaults of `EdgeConfig`. */
export const EDGE_CONFIG_DEFAULTS: EdgeConfig = {
  bodyLimitBytes: 102_400,
  jsonMaxDepth: 32,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  timeoutCheckIntervalMs: 1000,
  keepAliveTimeoutMs: 65_000,
};

/** Parses and validates the edge settings of the environment; a bad value throws an error naming the variable. */
export function loadEdgeConfig(env: Record<string, string | undefined> = process.env): EdgeConfig {
  const d = EDGE_CONFIG_DEFAULTS;
  const config: EdgeConfig = {
    bodyLimitBytes: envInt(env, 'HTTP_BODY_LIMIT_BYTES', d.bodyLimitBytes, 1, 1 << 30),
    jsonMaxDepth: envInt(env, 'HTTP_JSON_MAX_DEPTH', d.jsonMaxDepth, 1, 1000),
    headersTimeoutMs: envInt(env, 'HTTP_HEADERS_TIMEOUT_MS', d.headersTimeoutMs, 1, 600_000),
    requestTimeoutMs: envInt(env, 'HTTP_REQUEST_TIMEOUT_MS', d.requestTimeoutMs, 1, 3_600_000),
    timeoutCheckIntervalMs: d.timeoutCheckIntervalMs,
    keepAliveTimeoutMs: envInt(
      env,
      'HTTP_KEEP_ALIVE_TIMEOUT_MS',
      d.keepAliveTimeoutMs,
      1,
      3_600_000,
    ),
  };
  if (config.headersTimeoutMs > config.requestTimeoutMs)
    throw new CacheValidationError(
      'HTTP_HEADERS_TIMEOUT_MS',
      `HTTP_HEADERS_TIMEOUT_MS (${config.headersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${config.requestTimeoutMs})`,
    );
  return config;
}

/** Reads an integer setting of the environment within `[min, max]`, or `fallback` when unset; a bad value throws naming the variable. */
export function envInt(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CacheValidationError(
      name,
      `${name} must be an integer from ${min} to ${max}, got '${raw}'`,
    );
  return n;
}
