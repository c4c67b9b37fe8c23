/**
 * The vendor's HTTP client: Node's `fetch` with a bound on the response headers and on the whole
 * request (both through `AbortSignal`), retries with jittered exponential back-off on network
 * errors, timeouts and 5xx, `Retry-After` honoured on 429, and a hook run before every metered
 * attempt (the shared call budget). Errors name what failed, never the URL's host or the API key.
 */
import { SourceBudgetExhaustedError } from '../../../cache/index.js';
import { MarketDataError } from '../market-data.errors.js';

/** Options of `VendorClient`; durations in milliseconds. */
export interface VendorClientOptions {
  /** Base URL of the API, e.g. `https://vendor.example/api` (paths are appended). */
  baseUrl: string;
  /** Sent as `X-API-Key` when set. */
  apiKey?: string;
  /** Bound on connecting and receiving the response headers, in ms. */
  connectTimeoutMs: number;
  /** Bound on one whole attempt (headers and body), in ms. */
  requestTimeoutMs: number;
  /** Retries after the first attempt (network errors, timeouts, 5xx, short 429s). */
  retries: number;
  /** First back-off, in ms: attempt n waits a random time in [0, min(8, 2^(n-1)) × this]. */
  retryBaseMs: number;
  /** Longest 429 `Retry-After` waited for, in ms; longer ones fail at once with `SourceBudgetExhaustedError`. */
  maxRetryAfterMs: number;
  /** Run before every metered attempt (retries included); throws to refuse the call (e.g. the budget is spent). */
  beforeCall?: () => Promise<void>;
  /** Random source of the jitter (tests). Default `Math.random`. */
  random?: () => number;
}

/** Per-call options of `getJson`. */
export interface VendorCallOptions {
  /** Whether the call counts against the vendor's quota (runs `beforeCall`). Default true. */
  metered?: boolean;
  /** Overrides the retries of this call. */
  retries?: number;
  /** Overrides both timeouts of this call, in ms. */
  timeoutMs?: number;
}

/** What the client counted since it was created. */
export interface VendorClientStats {
  /** HTTP attempts sent. */
  attempts: number;
  /** Attempts that were retries. */
  retries: number;
  /** Answers 429 received. */
  rateLimited: number;
  /** Calls that failed in the end (any error). */
  failures: number;
}

class AttemptTimeout extends Error {
  constructor(readonly phase: 'headers' | 'request') {
    super(`no ${phase === 'headers' ? 'response headers' : 'complete answer'} in time`);
  }
}

/** A failed attempt: retry it (after `waitMs`, or the back-off) or give up with `error`. */
interface Failure {
  retry: boolean;
  waitMs?: number;
  error: Error;
}

/** The vendor's REST client (one per provider). */
export class VendorClient {
  /** Counters since creation. */
  readonly stats: VendorClientStats = { attempts: 0, retries: 0, rateLimited: 0, failures: 0 };
  private readonly base: string;

  constructor(private readonly options: VendorClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
  }

  /** GETs `path` (with `query`, undefined values left out) and answers the parsed JSON of a 200. */
  async getJson(
    path: string,
    query: Record<string, string | number | undefined> = {},
    call: VendorCallOptions = {},
  ): Promise<unknown> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(query))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const retries = call.retries ?? this.options.retries;
    for (let attempt = 0; ; attempt++) {
      if (call.metered !== false && this.options.beforeCall) await this.options.beforeCall();
      this.stats.attempts++;
      if (attempt > 0) this.stats.retries++;
      const outcome = await this.attempt(url, path, call.timeoutMs);
      if (!('retry' in outcome)) return outcome.body;
      if (!outcome.retry || attempt >= retries) {
        this.stats.failures++;
        throw outcome.error;
      }
      await sleep(outcome.waitMs ?? this.backoffMs(attempt + 1));
    }
  }

  /** Jittered back-off before retry `n` (1-based), in ms. */
  backoffMs(n: number): number {
    const cap = this.options.retryBaseMs * Math.min(8, 2 ** (n - 1));
    return Math.floor((this.options.random ?? Math.random)() * cap);
  }

  private async attempt(
    url: URL,
    path: string,
    timeoutMs: number | undefined,
  ): Promise<{ body: unknown } | Failure> {
    const what = path.split('/').slice(0, 3).join('/') || '/';
    const headersBound = new AbortController();
    const timer = setTimeout(
      () => headersBound.abort(new AttemptTimeout('headers')),
      timeoutMs ?? this.options.connectTimeoutMs,
    );
    const requestBound = new AbortController();
    const requestTimer = setTimeout(
      () => requestBound.abort(new AttemptTimeout('request')),
      timeoutMs ?? this.options.requestTimeoutMs,
    );
    const signal = AbortSignal.any([headersBound.signal, requestBound.signal]);
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (this.options.apiKey) headers['x-api-key'] = this.options.apiKey;
      const res = await fetch(url, { headers, signal });
      clearTimeout(timer);
      const text = await res.text();
      if (res.status === 200) return this.parse(text, what);
      return this.refusal(res.status, res.headers.get('retry-after'), text, what);
    } catch (e) {
      const reason = signal.aborted ? (signal.reason as unknown) : e;
      if (reason instanceof AttemptTimeout)
        return {
          retry: true,
          error: new MarketDataError('SOURCE_TIMEOUT', `vendor ${what}: ${reason.message}`),
        };
      const code = (e as { cause?: { code?: unknown } }).cause?.code;
      return {
        retry: true,
        error: new MarketDataError(
          'SOURCE_UNAVAILABLE',
          `vendor ${what}: network error${typeof code === 'string' ? ` (${code})` : ''}`,
        ),
      };
    } finally {
      clearTimeout(timer);
      clearTimeout(requestTimer);
    }
  }

  private parse(text: string, what: string): { body: unknown } | Failure {
    try {
      return { body: JSON.parse(text) as unknown };
    } catch {
      // A malformed answer is not retried: it would spend the budget on the same answer.
      return {
        retry: false,
        error: new MarketDataError('SOURCE_UNAVAILABLE', `vendor ${what}: answer is not JSON`),
      };
    }
  }

  private refusal(status: number, retryAfter: string | null, text: string, what: string): Failure {
    if (status === 429) {
      this.stats.rateLimited++;
      const waitMs = retryAfterMs(retryAfter) ?? this.options.retryBaseMs;
      const error = new SourceBudgetExhaustedError('the vendor', Math.max(waitMs, 1));
      return waitMs <= this.options.maxRetryAfterMs
        ? { retry: true, waitMs, error }
        : { retry: false, error };
    }
    if (status >= 500)
      return {
        retry: true,
        error: new MarketDataError('SOURCE_UNAVAILABLE', `vendor ${what}: HTTP ${status}`),
      };
    if (status === 404) {
      const code = codeOf(text);
      return {
        retry: false,
        error: new MarketDataError(
          code === 'UNKNOWN_TICKER' ? 'UNKNOWN_TICKER' : 'NOT_FOUND',
          `vendor ${what}: not found`,
        ),
      };
    }
    const why = status === 401 || status === 403 ? 'the API key was refused' : `HTTP ${status}`;
    return {
      retry: false,
      error: new MarketDataError('SOURCE_UNAVAILABLE', `vendor ${what}: ${why}`),
    };
  }
}

/** `Retry-After` (delta seconds or an HTTP date) in ms, or undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function codeOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { code?: unknown };
    return typeof body?.code === 'string' ? body.code : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
