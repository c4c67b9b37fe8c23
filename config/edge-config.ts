import { isIP } from 'node:net';
import { CacheValidationError } from '../src/cache/index.js';

/**
 * Which hops in front of the app are trusted to say who the client is (`X-Forwarded-For`):
 * `false` (none: the client is the TCP peer), a number of hops, or addresses, CIDR ranges and the
 * names `loopback`, `linklocal`, `uniquelocal` (Express's `trust proxy`).
 */
export type TrustProxy = false | number | readonly string[];

/** Limits of the HTTP edge: request bodies, server timeouts and the anonymous throttle, read from the environment with defaults. */
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
  /** Requests per client address per window for requests without an API key (`X-API-Key` on `/api/**`); past it 429 with `Retry-After`. `/health/**` and `/metrics` are never counted. 0 turns the throttle off. Env `HTTP_THROTTLE_LIMIT`, default 3000. */
  throttleLimit: number;
  /** Length of an anonymous client's throttle window, in ms, from its first counted request. Env `HTTP_THROTTLE_WINDOW_MS`, default 60000 (1 min). */
  throttleWindowMs: number;
  /** Hops trusted to name the client in `X-Forwarded-For` (see `TrustProxy`); unset: none, the client is the TCP peer. Env `HTTP_TRUST_PROXY`: `false`, a hop count, or a comma list of addresses / CIDRs / `loopback`. */
  trustProxy: TrustProxy;
}

/** The defaults of `EdgeConfig`. */
export const EDGE_CONFIG_DEFAULTS: EdgeConfig = {
  bodyLimitBytes: 102_400,
  jsonMaxDepth: 32,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  timeoutCheckIntervalMs: 1000,
  keepAliveTimeoutMs: 65_000,
  throttleLimit: 3000,
  throttleWindowMs: 60_000,
  trustProxy: false,
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
    throttleLimit: envInt(env, 'HTTP_THROTTLE_LIMIT', d.throttleLimit, 0, 1_000_000_000),
    throttleWindowMs: envInt(env, 'HTTP_THROTTLE_WINDOW_MS', d.throttleWindowMs, 1000, 86_400_000),
    trustProxy: envTrustProxy(env, 'HTTP_TRUST_PROXY'),
  };
  if (config.headersTimeoutMs > config.requestTimeoutMs)
    throw new CacheValidationError(
      'HTTP_HEADERS_TIMEOUT_MS',
      `HTTP_HEADERS_TIMEOUT_MS (${config.headersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${config.requestTimeoutMs})`,
    );
  return config;
}

/** Names Express's `trust proxy` knows for address ranges. */
const TRUST_PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** True for an IPv4/IPv6 address, or one with a `/bits` CIDR suffix in range. */
function isAddressOrRange(text: string): boolean {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return false;
  if (slash < 0) return true;
  const bits = text.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128);
}

/**
 * Reads the trusted-proxy setting: unset, empty or `false` → `false`; a whole number → that many
 * hops; else a comma list of addresses, CIDRs and `loopback` / `linklocal` / `uniquelocal`.
 * `true` is refused: trusting every hop lets any client pick its own address.
 */
export function envTrustProxy(env: Record<string, string | undefined>, name: string): TrustProxy {
  const raw = env[name]?.trim();
  if (!raw || raw === 'false') return false;
  if (/^\d+$/.test(raw)) return envInt(env, name, 0, 0, 100) || false;
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = entries.find((e) => !TRUST_PROXY_NAMES.has(e) && !isAddressOrRange(e));
  if (bad !== undefined || entries.length === 0)
    throw new CacheValidationError(
      name,
      `${name} must be false, a hop count, or a comma list of addresses, CIDRs, loopback, linklocal, uniquelocal; got '${raw}'` +
        (raw === 'true' ? ' (true would trust any X-Forwarded-For a client sends)' : ''),
    );
  return entries;
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
