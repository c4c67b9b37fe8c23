import {
  Inject,
  Injectable,
  Optional,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { lastValueFrom, mergeMap, of, type Observable } from 'rxjs';
import { CacheService } from '../cache.service.js';
import { CACHE_RESPONSE_METADATA, MARKET_CACHE_OPTIONS } from '../constants.js';
import { FactoryError } from '../errors/cache-errors.js';
import { CacheKeyType } from '../keys/cache-key-type.js';
import { CacheTTLPolicy } from '../keys/cache-ttl-policy.js';
import { ttlToSeconds } from '../keys/ttl.js';
import type { ResolvedMarketCacheOptions } from '../market-cache.options.js';
import { CacheMetrics } from '../metrics/cache-metrics.js';
import type { Resolved } from '../tiered/tiered-cache.js';
import { etagOf, matchesIfNoneMatch, maxAgeSecondsOf, writeCacheHeaders } from './cache-headers.js';
import { varyHeader, wantsUser, type CacheResponseOptions } from './cache-response.decorator.js';
import { CREDENTIAL_HEADERS } from './credentials.js';
import { HttpCacheFastPathIndex } from './http-cache.fast-path.js';
import {
  PreparedResponse,
  isCachedResponse,
  setHeaders,
  type CachedHttpResponse,
} from './prepared-response.js';

export type { CachedHttpResponse } from './prepared-response.js';
import { isStreamOrBinary, normalizeQuery } from './request-parts.js';

export { normalizeQuery } from './request-parts.js';

/** The parts of an (Express-compatible) request the interceptor reads. */
export interface CacheableRequest {
  method: string;
  url: string;
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
  params?: Record<string, string | undefined>;
  /** Set by an authentication guard (passport style); its `id`, `sub` or `userId` is the caller's identity. */
  user?: unknown;
}

/** The parts of an (Express-compatible) response the interceptor reads and writes. */
export interface CacheableResponse {
  statusCode: number;
  headersSent: boolean;
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  getHeader(name: string): unknown;
}

export { CREDENTIAL_HEADERS } from './credentials.js';

/** Longest route path + query kept verbatim in a key, in characters; longer ones are hashed. */
const MAX_VERBATIM_CHARS = 512;
/** Room left for the stored envelope around the body, in characters. */
const ENVELOPE_OVERHEAD_CHARS = 512;

/** Marks a request some instance of the interceptor already handles (so a global one and a `@UseInterceptors` one never both cache). */
const CLAIMED: unique symbol = Symbol('market_cache:http_cache_claimed');

/** Raised inside the cache factory when the handler's response must not be stored (never leaves the interceptor). */
class UncacheableResponse extends Error {
  constructor(reason: string) {
    super(`response not cached: ${reason}`);
    this.name = 'UncacheableResponse';
  }
}

/**
 * Caches the responses of GET/HEAD routes marked `@CacheResponse(...)` in the market cache.
 *
 * - Key: `{keyType}:{entity}:http:{path}:{sorted query}[:{vary hash}]` (entity = the `ticker`
 *   route parameter by default, so `invalidateStockCache` drops cached responses too). Query
 *   parameters are sorted; with `query: [...]` unknown ones are refused (400 naming them).
 *   A request carrying credentials, or a route with `varyBy: 'user'`, is cached per identity
 *   (hashed; never a raw credential in a key) and answered `Cache-Control: private`.
 * - Concurrent identical requests on a cold key run the handler once (per process, and once
 *   across instances sharing Redis); stale values are served per the SWR and fail-safe rules.
 * - Never stored: non-2xx responses, thrown errors, streamed / binary bodies, responses that
 *   set a cookie, empty bodies, bodies over `maxValueBytes`. Those are answered as they are.
 * - Headers: `X-Cache: HIT|MISS|STALE`, a strong `ETag` (a matching `If-None-Match` gets 304
 *   with no body), `Cache-Control: max-age` = what is left of the TTL (0 when stale),
 *   `Last-Modified` (when the value was produced) and `Vary`. Only the body is cached: headers a
 *   handler sets imperatively are not replayed on hits (those set with `@Header()` are).
 *
 * Overridable hooks, as in Nest's `CacheInterceptor`: `trackBy`, `isRequestCacheable`,
 * `isResponseCacheable`, `identityOf`.
 */
@Injectable()
export class HttpCacheInterceptor implements NestInterceptor {
  /** Methods whose responses are cached (HEAD shares GET's entry). */
  protected readonly allowedMethods: readonly string[] = ['GET', 'HEAD'];

  constructor(
    @Inject(CacheService) protected readonly cache: CacheService,
    @Inject(Reflector) protected readonly reflector: Reflector,
    @Inject(CacheTTLPolicy) protected readonly policy: CacheTTLPolicy,
    @Optional() @Inject(CacheMetrics) protected readonly metrics?: CacheMetrics,
    @Optional()
    @Inject(MARKET_CACHE_OPTIONS)
    private readonly cacheOptions?: ResolvedMarketCacheOptions,
    @Optional() @Inject(HttpCacheFastPathIndex) private readonly fastPath?: HttpCacheFastPathIndex,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const options = this.reflector.getAllAndOverride<CacheResponseOptions | undefined>(
      CACHE_RESPONSE_METADATA,
      [context.getHandler(), context.getClass()],
    );
    if (!options) return next.handle();
    const req = context.switchToHttp().getRequest<CacheableRequest & { [CLAIMED]?: true }>();
    if (req[CLAIMED]) return next.handle();
    req[CLAIMED] = true;
    const res = context.switchToHttp().getResponse<CacheableResponse>();
    if (!this.isRequestCacheable(context, options)) return this.handleOwn(req, res, next, options);
    const key = this.trackBy(context, options);
    if (key === undefined) return this.handleOwn(req, res, next, options);

    const keyType = options.keyType ?? CacheKeyType.MARKET_DATA;
    const own: { rendered: boolean; body: unknown } = { rendered: false, body: undefined };
    const started = performance.now();
    let resolved: Resolved<CachedHttpResponse>;
    try {
      resolved = await this.cache.getOrSetResult<CachedHttpResponse>(
        key,
        () => this.render(context, next, own, options),
        { keyType, ttl: options.ttl, ttlOf: (v) => (v as CachedHttpResponse).ttl },
      );
    } catch (e) {
      // This request's handler answered, but its response could not be stored: send it as it is.
      if (own.rendered) return this.uncached(req, res, own.body, options);
      const cause = e instanceof FactoryError ? e.cause : e;
      // Another request's handler answered with a response that is not shareable: run our own.
      if (cause instanceof UncacheableResponse) return this.handleOwn(req, res, next, options);
      // The handler's own error (HttpException, a domain error...), or a factory timeout.
      throw cause;
    }
    // Stale served instead of this request's own (uncacheable) answer: the handler's answer wins.
    if (own.rendered && resolved.source === 'stale')
      return this.uncached(req, res, own.body, options);
    // This request's own prepared answer: its data's source, freshness and headers.
    if (own.rendered && own.body instanceof PreparedResponse)
      return this.answerPrepared(req, res, own.body, options);
    const { value, source, asOf } = resolved;
    if (!isCachedResponse(value)) {
      await this.cache.delete(key);
      return this.handleOwn(req, res, next, options);
    }
    this.metrics?.observe('http', source, (performance.now() - started) / 1000);

    const ttlSeconds =
      value.ttl ??
      (options.ttl === undefined ? this.policy.ttlFor(keyType) : ttlToSeconds(options.ttl));
    const personal = this.isPersonal(req, options);
    writeCacheHeaders(res, {
      source,
      etag: value.etag,
      maxAgeSeconds: maxAgeSecondsOf(source, asOf, ttlSeconds),
      personal,
      lastModified: new Date(asOf).toUTCString(),
      vary: varyHeader(options),
    });
    if (!personal && source !== 'stale')
      this.fastPath?.remember(context, req, key, options, ttlSeconds, value);
    if (value.text !== undefined) {
      setHeaders(res, value.headers);
      res.setHeader('Content-Type', JSON_TYPE);
    }
    if (matchesIfNoneMatch(req.headers['if-none-match'], value.etag)) {
      res.statusCode = 304;
      return of(undefined);
    }
    return of(value.text ?? value.body);
  }

  /**
   * The logical cache key of a request, or `undefined` to skip caching it. Throws
   * `CacheValidationError` (→ 400) for a query parameter outside `options.query`.
   */
  protected trackBy(context: ExecutionContext, options: CacheResponseOptions): string | undefined {
    const req = context.switchToHttp().getRequest<CacheableRequest>();
    const url = req.originalUrl ?? req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = normalizeQuery(q < 0 ? '' : url.slice(q + 1), options.query);
    const raw = req.params?.[options.entityParam ?? 'ticker'];
    const entity = raw === undefined ? '_' : (options.normalizeEntity?.(raw) ?? raw);
    const target =
      path.length + query.length > MAX_VERBATIM_CHARS
        ? ['h', sha256(`${path}?${query}`)]
        : [path, query];
    const vary = this.varyOf(req, options);
    const type = options.keyType ?? CacheKeyType.MARKET_DATA;
    return vary === undefined
      ? this.cache.keys.build(type, entity, 'http', ...target)
      : this.cache.keys.build(type, entity, 'http', ...target, vary);
  }

  /** Whether the request may be answered from / stored in the cache: GET or HEAD, and not a range request. */
  protected isRequestCacheable(context: ExecutionContext, _options: CacheResponseOptions): boolean {
    const req = context.switchToHttp().getRequest<CacheableRequest>();
    return this.allowedMethods.includes(req.method) && req.headers.range === undefined;
  }

  /** Whether the handler's answer may be stored: 2xx, no cookie set, a body that is neither empty nor streamed / binary. */
  protected isResponseCacheable(context: ExecutionContext, body: unknown): boolean {
    const res = context.switchToHttp().getResponse<CacheableResponse>();
    if (res.headersSent || res.statusCode < 200 || res.statusCode >= 300) return false;
    const cookie = res.getHeader('set-cookie');
    if (cookie !== undefined && !(Array.isArray(cookie) && cookie.length === 0)) return false;
    return body !== undefined && body !== null && !isStreamOrBinary(body);
  }

  /**
   * The caller's identity, or `undefined` for an anonymous request: `request.user`'s `id` /
   * `sub` / `userId`, else the first credential header present (`Authorization`, `X-API-Key`,
   * `Cookie`). It is hashed before it goes into a key.
   */
  protected identityOf(req: CacheableRequest): string | undefined {
    const user = req.user;
    if (typeof user === 'object' && user !== null) {
      const u = user as Record<string, unknown>;
      const id = u.id ?? u.sub ?? u.userId;
      if (typeof id === 'string' || typeof id === 'number') return `user:${id}`;
    }
    for (const name of CREDENTIAL_HEADERS) {
      const value = headerText(req, name);
      if (value) return `${name}:${value}`;
    }
    return undefined;
  }

  /** The vary segment of a key (a hash of identity and varied headers), or `undefined` when the response is shared. */
  private varyOf(req: CacheableRequest, options: CacheResponseOptions): string | undefined {
    const parts: string[] = [];
    const identity = this.identityOf(req);
    if (identity !== undefined || wantsUser(options)) parts.push(`id=${identity ?? 'anonymous'}`);
    if (Array.isArray(options.varyBy))
      for (const h of options.varyBy)
        if (h !== 'user') parts.push(`${h}=${headerText(req, h) ?? ''}`);
    return parts.length ? 'v' + sha256(parts.join('\n')) : undefined;
  }

  /** Runs the handler once for the key; its answer is stored only if it is cacheable. */
  private async render(
    context: ExecutionContext,
    next: CallHandler,
    own: { rendered: boolean; body: unknown },
    options: CacheResponseOptions,
  ): Promise<CachedHttpResponse> {
    const body: unknown = await lastValueFrom(next.handle(), { defaultValue: undefined });
    own.rendered = true;
    own.body = body;
    if (!this.isResponseCacheable(context, body))
      throw new UncacheableResponse(
        'not a cacheable response (status, cookie, stream or empty body)',
      );
    if (body instanceof PreparedResponse) return this.storedPrepared(body, options);
    let text: string | undefined;
    try {
      text = typeof body === 'string' ? body : JSON.stringify(body);
    } catch (e) {
      throw new UncacheableResponse(
        `body is not JSON-serializable (${e instanceof Error ? e.name : 'error'})`,
      );
    }
    if (text === undefined) throw new UncacheableResponse('body is not JSON-serializable');
    const limit = this.cacheOptions?.maxValueBytes;
    if (limit !== undefined && text.length + ENVELOPE_OVERHEAD_CHARS > limit)
      throw new UncacheableResponse('body is larger than maxValueBytes');
    return { body, etag: etagOf(text) };
  }

  /** What is stored of a prepared answer: its text, ETag and replayed headers, for at most its data's freshness. */
  private storedPrepared(
    body: PreparedResponse,
    options: CacheResponseOptions,
  ): CachedHttpResponse {
    const { source, maxAgeSeconds } = body.init;
    if (source === 'stale' || !(maxAgeSeconds >= 1))
      throw new UncacheableResponse('the data is stale or about to expire');
    if (body.init.store === false)
      throw new UncacheableResponse('the handler asked not to store it');
    const limit = this.cacheOptions?.maxValueBytes;
    if (limit !== undefined && body.text.length + ENVELOPE_OVERHEAD_CHARS > limit)
      throw new UncacheableResponse('body is larger than maxValueBytes');
    const routeTtl = options.ttl === undefined ? undefined : ttlToSeconds(options.ttl);
    const ttl = Math.floor(
      routeTtl === undefined ? maxAgeSeconds : Math.min(routeTtl, maxAgeSeconds),
    );
    const replay = body.replayHeaders;
    return { text: body.text, etag: body.etag, ttl, ...(replay ? { headers: { ...replay } } : {}) };
  }

  /** Answers a handler's own prepared response: its data's source and freshness, its headers, its bytes. */
  private answerPrepared(
    req: CacheableRequest,
    res: CacheableResponse,
    body: PreparedResponse,
    options: CacheResponseOptions,
  ): Observable<unknown> {
    writeCacheHeaders(res, {
      source: body.init.source,
      etag: body.etag,
      maxAgeSeconds: body.init.maxAgeSeconds,
      personal: this.isPersonal(req, options),
      vary: varyHeader(options),
    });
    setHeaders(res, body.init.headers);
    res.setHeader('Content-Type', JSON_TYPE);
    if (matchesIfNoneMatch(req.headers['if-none-match'], body.etag)) {
      res.statusCode = 304;
      return of(undefined);
    }
    return of(body.text);
  }

  /** Whether answers to `req` are per identity (`Cache-Control: private`). */
  private isPersonal(req: CacheableRequest, options: CacheResponseOptions): boolean {
    return wantsUser(options) || this.identityOf(req) !== undefined;
  }

  /** Runs this request's own handler and answers its response, not stored (prepared bytes as JSON, never the wrapper). */
  private handleOwn(
    req: CacheableRequest,
    res: CacheableResponse,
    next: CallHandler,
    options: CacheResponseOptions,
  ): Observable<unknown> {
    return next.handle().pipe(mergeMap((body) => this.uncached(req, res, body, options)));
  }

  /** Answers this request's own response, not stored. */
  private uncached(
    req: CacheableRequest,
    res: CacheableResponse,
    body: unknown,
    options: CacheResponseOptions,
  ): Observable<unknown> {
    if (body instanceof PreparedResponse && !res.headersSent)
      return this.answerPrepared(req, res, body, options);
    if (!res.headersSent) res.setHeader('X-Cache', 'MISS');
    return of(body);
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';

function headerText(req: CacheableRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}
