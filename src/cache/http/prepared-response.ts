import type { CacheSource } from '../tiered/cache-stats.js';
import { etagOf } from './cache-headers.js';

/** How a `PreparedResponse` is answered and how long its cached copy may live. */
export interface PreparedResponseInit {
  /** Where the data came from: the `X-Cache` of this answer (`factory` = MISS, `stale` = STALE). */
  source: CacheSource;
  /**
   * Seconds the data stays fresh. `HttpCacheInterceptor` keeps the response no longer than this
   * (nor than the route's TTL); 0, or a `stale` source, and the response is answered but not stored.
   */
  maxAgeSeconds: number;
  /** A strong ETag (quoted), e.g. made from the hashes of the cached parts. Default: SHA-1 of the text. */
  etag?: string;
  /** Headers of this answer (e.g. `X-Cache-Coverage`). */
  headers?: Readonly<Record<string, string>>;
  /** `false`: answered, never stored (an answer that costs nothing to make again). Default true. */
  store?: boolean;
  /** Headers of the answers replayed from the cached copy. Default: `headers`. */
  replayHeaders?: Readonly<Record<string, string>>;
}

/**
 * A JSON response body already serialized, returned by a handler under `@CacheResponse`: the
 * interceptor stores and answers these bytes as they are (no `JSON.stringify`, no re-hash), with
 * their ETag, and keeps the cached copy no longer than the data it carries stays fresh.
 */
export class PreparedResponse {
  /** The strong ETag of the body. */
  readonly etag: string;

  constructor(
    /** The body: JSON text. */
    readonly text: string,
    readonly init: PreparedResponseInit,
  ) {
    this.etag = init.etag ?? etagOf(text);
  }

  /** The headers sent when the cached copy is replayed. */
  get replayHeaders(): Readonly<Record<string, string>> | undefined {
    return this.init.replayHeaders ?? this.init.headers;
  }
}

/** Writes `headers` on a response. */
export function setHeaders(
  res: { setHeader(name: string, value: string): unknown },
  headers: Readonly<Record<string, string>> | undefined,
): void {
  if (headers) for (const name of Object.keys(headers)) res.setHeader(name, headers[name]);
}

/**
 * What is cached per response: the body as the handler returned it (or, for a
 * `PreparedResponse`, its JSON text and the headers to replay), and its strong ETag (computed
 * once, on the miss).
 */
export interface CachedHttpResponse {
  body?: unknown;
  /** The body as JSON text, answered as it is (a `PreparedResponse`). */
  text?: string;
  etag: string;
  /** Headers replayed with a prepared body. */
  headers?: Record<string, string>;
  /** The entry's own TTL in seconds when shorter than the route's (the data's freshness). */
  ttl?: number;
}

/** True when a cached value has the shape `render` stores (anything else is deleted and rendered again). */
export function isCachedResponse(value: unknown): value is CachedHttpResponse {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<CachedHttpResponse>;
  if (typeof v.etag !== 'string') return false;
  if (v.ttl !== undefined && !(typeof v.ttl === 'number' && v.ttl >= 1)) return false;
  if (v.text === undefined) return v.headers === undefined;
  if (typeof v.text !== 'string') return false;
  if (v.headers === undefined) return true;
  return (
    typeof v.headers === 'object' &&
    v.headers !== null &&
    Object.values(v.headers).every((h) => typeof h === 'string')
  );
}
