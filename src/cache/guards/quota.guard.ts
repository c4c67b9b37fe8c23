import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { createHash } from 'node:crypto';
import { QuotaService, type QuotaUsage, type QuotaWindow } from '../quota.service.js';
import { CacheError } from '../errors/cache-errors.js';
import { RateLimitedLogger, errorSummary } from '../util/rate-limited-logger.js';
import { MARKET_CACHE_QUOTA_OPTIONS } from '../constants.js';

/** Options of `QuotaGuard` (token `MARKET_CACHE_QUOTA_OPTIONS`). */
export interface QuotaGuardOptions {
  /** Requests per key per window. Default: the module's `apiDailyQuota` (1000). */
  limit?: number;
  /** Counting window (fixed, UTC). Default `daily`. */
  window?: QuotaWindow;
  /** Path prefixes the quota applies to. Default `['/api/']` (not `/health`, `/metrics`, `/docs`). */
  pathPrefixes?: readonly string[];
  /** Request header carrying the API key. Default `x-api-key`. */
  header?: string;
}

/** A key went past its quota: the app's exception filter answers 429 with `Retry-After`. */
export class QuotaExceededError extends CacheError {
  constructor(
    readonly limit: number,
    /** Seconds until the window resets. */
    readonly retryAfterSeconds: number,
  ) {
    super(
      'CACHE_QUOTA_EXCEEDED',
      `API quota of ${limit} requests exceeded; retry in ${retryAfterSeconds} s`,
    );
  }
}

/** Minimal request/response surfaces the guard needs (Express-compatible). */
export interface QuotaRequest {
  url: string;
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
}
interface QuotaResponse {
  setHeader(name: string, value: string | number): unknown;
}

/**
 * Counts requests carrying an API key (`X-API-Key`) against a per-key quota with
 * `QuotaService.trackApiQuota` (atomic across instances), on `/api/**` only.
 *
 * - Every counted response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
 *   `X-RateLimit-Reset` — the **epoch second** (UTC) at which the window resets, as GitHub does.
 * - Past the limit: `QuotaExceededError` (the app maps it to 429) with `Retry-After` in seconds.
 * - Requests without a key are not counted (and get no rate-limit headers).
 * - Keys are counted under their SHA-256, never stored raw. Redis down: the per-instance counter
 *   answers (fail-open, `QuotaUsage.degraded`); a failure of the counter itself lets the request
 *   through. The guard never turns a cache problem into a 500.
 */
@Injectable()
export class QuotaGuard implements CanActivate {
  private readonly log = new RateLimitedLogger(new Logger(QuotaGuard.name));
  private rejected = 0;

  constructor(
    @Inject(QuotaService) private readonly quotas: QuotaService,
    @Optional()
    @Inject(MARKET_CACHE_QUOTA_OPTIONS)
    private readonly options: QuotaGuardOptions = {},
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<QuotaRequest>();
    const apiKey = quotaKeyOf(req, this.options ?? {});
    if (apiKey === undefined) return true;
    let usage: QuotaUsage;
    try {
      usage = await this.quotas.trackApiQuota(
        quotaIdOf(apiKey),
        this.options?.window ?? 'daily',
        this.options?.limit,
      );
    } catch (e) {
      this.log.warn('quota', `quota could not be counted; request let through: ${errorSummary(e)}`);
      return true;
    }
    const res = context.switchToHttp().getResponse<QuotaResponse>();
    res.setHeader('X-RateLimit-Limit', usage.limit);
    res.setHeader('X-RateLimit-Remaining', usage.remaining);
    res.setHeader('X-RateLimit-Reset', Math.ceil(usage.resetAt / 1000));
    if (usage.allowed) return true;
    this.rejected++;
    const retryAfterSeconds = Math.max(1, usage.resetInSeconds);
    res.setHeader('Retry-After', retryAfterSeconds);
    throw new QuotaExceededError(usage.limit, retryAfterSeconds);
  }

  /** Requests refused past their quota since start (`CacheMetrics` exposes it). */
  get rejections(): number {
    return this.rejected;
  }
}

/**
 * The API key `QuotaGuard` with `options` counts `req` under, or `undefined` when it does not count
 * it (no key, or a path outside `pathPrefixes`). Paths are compared case-insensitively, as Express
 * matches routes. Other guards use it to tell keyed requests from anonymous ones.
 */
export function quotaKeyOf(req: QuotaRequest, options: QuotaGuardOptions = {}): string | undefined {
  const prefixes = options.pathPrefixes ?? ['/api/'];
  const path = (req.originalUrl ?? req.url).split('?')[0].toLowerCase();
  const covered = prefixes.some(
    (p) => path.startsWith(p.toLowerCase()) || path === p.toLowerCase().replace(/\/$/, ''),
  );
  if (!covered) return undefined;
  const raw = req.headers[(options.header ?? 'x-api-key').toLowerCase()];
  const apiKey = Array.isArray(raw) ? raw[0] : raw;
  return apiKey ? apiKey : undefined;
}

/** The id an API key is counted under: its SHA-256 (base64url), so no raw key reaches the store. */
export function quotaIdOf(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('base64url');
}
