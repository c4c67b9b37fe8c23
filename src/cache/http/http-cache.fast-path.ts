import { CREDENTIAL_HEADERS } from './credentials.js';
import { GUARDS_METADATA, INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import { Inject, Injectable, type ExecutionContext, type NestMiddleware } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { LRUCache } from 'lru-cache';
import { CacheService } from '../cache.service.js';
import { matchesIfNoneMatch, maxAgeSecondsOf, writeCacheHeaders } from './cache-headers.js';
import { varyHeader, wantsUser, type CacheResponseOptions } from './cache-response.decorator.js';
import { isCachedResponse, setHeaders, type CachedHttpResponse } from './prepared-response.js';

/** Route metadata that changes what a response looks like or who may get it: such routes never take the fast path. */
const DISQUALIFYING_METADATA = [
  GUARDS_METADATA,
  '__headers__',
  '__httpCode__',
  '__redirect__',
  '__renderTemplate__',
  '__sse__',
];

/** Headers that make a request personal: the credentials, and `Range` (a partial answer). */
const PERSONAL_HEADERS = [...CREDENTIAL_HEADERS, 'range'];

interface FastRoute {
  /** The logical cache key the interceptor answered this URL from. */
  key: string;
  ttlSeconds: number;
  vary: string;
}

/** A cached response body ready to write. */
interface PreparedBody {
  text: string;
  bytes: number;
  lastModified: string;
}

/** Minimal Node/Express request and response surfaces the fast path uses. */
interface FastRequest {
  method: string;
  url: string;
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
}
interface FastResponse {
  statusCode: number;
  setHeader(name: string, value: string | number): unknown;
  end(body?: string): unknown;
}

/**
 * Which exact URLs `HttpCacheInterceptor` answered from the cache for anonymous callers, on
 * routes that are safe to answer without entering Nest's pipeline: `@CacheResponse` without
 * `varyBy`, no route guards, no interceptor besides the cache's, no `@Header` / `@HttpCode` /
 * redirect / render / SSE. Bounded (10 000 URLs, least recently used first out).
 */
@Injectable()
export class HttpCacheFastPathIndex {
  private readonly routes = new LRUCache<string, FastRoute>({ max: 10_000 });
  private readonly eligible = new WeakMap<object, boolean>();
  private readonly prepared = new WeakMap<object, PreparedBody>();

  constructor(@Inject(Reflector) private readonly reflector: Reflector) {}

  /** Records that `req`'s URL is answered by `key` (called by the interceptor for anonymous, fresh answers). */
  remember(
    context: ExecutionContext,
    req: FastRequest,
    key: string,
    options: CacheResponseOptions,
    ttlSeconds: number,
    value: CachedHttpResponse,
  ): void {
    const prepared = typeof value.text === 'string';
    if (
      req.method !== 'GET' ||
      (!prepared && (typeof value.body !== 'object' || value.body === null))
    )
      return;
    if (!this.isEligible(context, options)) return;
    this.routes.set(req.originalUrl ?? req.url, { key, ttlSeconds, vary: varyHeader(options) });
  }

  /** The route recorded for a URL, if any. */
  lookup(url: string): FastRoute | undefined {
    return this.routes.get(url);
  }

  /** A cached value ready to write: its JSON text, byte length and `Last-Modified`, made once per cached value. */
  prepare(value: CachedHttpResponse, asOf: number): PreparedBody {
    let ready = this.prepared.get(value);
    if (ready === undefined) {
      const text = value.text ?? JSON.stringify(value.body);
      ready = { text, bytes: Buffer.byteLength(text), lastModified: new Date(asOf).toUTCString() };
      this.prepared.set(value, ready);
    }
    return ready;
  }

  private isEligible(context: ExecutionContext, options: CacheResponseOptions): boolean {
    const handler = context.getHandler();
    let ok = this.eligible.get(handler);
    if (ok === undefined) {
      const targets = [handler, context.getClass()];
      const interceptors = targets.flatMap(
        (t) =>
          (this.reflector.get<unknown[] | undefined>(INTERCEPTORS_METADATA, t) ?? []) as unknown[],
      );
      ok =
        options.varyBy === undefined &&
        !wantsUser(options) &&
        interceptors.every((i) => typeof i === 'function' && i.name === 'HttpCacheInterceptor') &&
        DISQUALIFYING_METADATA.every((m) =>
          targets.every((t) => {
            const meta: unknown = this.reflector.get(m, t);
            return meta === undefined || (Array.isArray(meta) && meta.length === 0);
          }),
        );
      this.eligible.set(handler, ok);
    }
    return ok;
  }
}

/**
 * Answers anonymous GET/HEAD requests for URLs the cache already answered (see
 * `HttpCacheFastPathIndex`) straight from a fresh L1 entry, before Nest's router, guards,
 * interceptors and serializer run; everything else passes through untouched.
 *
 * Opt-in per app (`consumer.apply(HttpCacheFastPath).forRoutes('*')`), because it answers before
 * **global** guards: apply it only when every global guard lets anonymous requests through
 * unchanged (route guards are checked automatically, and requests carrying `Authorization`,
 * `Cookie` or `X-API-Key` never take the fast path).
 */
@Injectable()
export class HttpCacheFastPath implements NestMiddleware {
  constructor(
    @Inject(HttpCacheFastPathIndex) private readonly index: HttpCacheFastPathIndex,
    @Inject(CacheService) private readonly cache: CacheService,
  ) {}

  use(req: FastRequest, res: FastResponse, next: () => void): void {
    if (
      (req.method !== 'GET' && req.method !== 'HEAD') ||
      PERSONAL_HEADERS.some((h) => req.headers[h] !== undefined)
    )
      return next();
    const route = this.index.lookup(req.originalUrl ?? req.url);
    const hit = route && this.cache.peekFresh<CachedHttpResponse>(route.key);
    if (!route || !hit || !isCachedResponse(hit.value)) return next();
    const ready = this.index.prepare(hit.value, hit.asOf);
    writeCacheHeaders(res, {
      source: 'l1',
      etag: hit.value.etag,
      maxAgeSeconds: maxAgeSecondsOf('l1', hit.asOf, hit.value.ttl ?? route.ttlSeconds),
      lastModified: ready.lastModified,
      vary: route.vary,
    });
    setHeaders(res, hit.value.headers);
    if (matchesIfNoneMatch(req.headers['if-none-match'], hit.value.etag)) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', ready.bytes);
    res.end(req.method === 'HEAD' ? undefined : ready.text);
  }
}
