import {
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  Optional,
  type NestMiddleware,
} from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { RateLimitedLogger, errorSummary, quotaKeyOf, type QuotaRequest } from '../cache/index.js';
import { clientAddressOf, isThrottleExcluded } from './client-address.js';
import {
  ANONYMOUS_THROTTLE_OPTIONS,
  ANONYMOUS_THROTTLE_STORAGE,
  type AnonymousThrottleOptions,
} from './throttle.constants.js';

/** The name the throttle's counters are kept under (`…:throttle:anonymous`). */
export const ANONYMOUS_THROTTLER_NAME = 'anonymous';

/** An anonymous client went past its limit: 429 with `Retry-After` (set on the response). */
export class AnonymousThrottledException extends HttpException {
  constructor(limit: number, windowMs: number, retryAfterSeconds: number) {
    super(
      {
        statusCode: HttpStatus.TOO_MANY_REQUESTS,
        error: 'Too Many Requests',
        message: `Too many requests without an API key from this address: at most ${limit} per ${Math.ceil(windowMs / 1000)} s; retry in ${retryAfterSeconds} s`,
      },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

/** The request and response surfaces the throttle uses (Express). */
interface ThrottleRequest extends QuotaRequest {
  /** The client address as Express resolves it (`trust proxy` decides whether `X-Forwarded-For` counts). */
  ip?: string;
}
interface ThrottleResponse {
  setHeader(name: string, value: string | number): unknown;
}

/**
 * Throttles requests without an API key per client address: `limit` per window of `windowMs`,
 * counted in a `ThrottlerStorage` (the `@nestjs/throttler` contract; the app's is
 * `QuotaThrottlerStorage`, one counter per address in Redis shared by every instance).
 *
 * - Counts every request except those `QuotaGuard` counts (an `X-API-Key` on `/api/**`: they have
 *   their own quota) and `/health/**`, `/metrics`. One counter per address for the whole app.
 * - The address is `req.ip` (Express takes it from `X-Forwarded-For` only for the hops
 *   `HTTP_TRUST_PROXY` trusts), IPv6 by /64 (`clientAddressOf`).
 * - Counted responses carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
 *   (the epoch second the window ends, as the quota guard writes it); past the limit
 *   `AnonymousThrottledException` (429) with `Retry-After` in seconds.
 * - A storage failure lets the request through (fail-open), logged rate-limited.
 *
 * Runs as middleware (before the HTTP cache fast path, which answers cached GETs before guards).
 * Without settings (throttle off) it passes every request on.
 */
@Injectable()
export class AnonymousThrottleMiddleware implements NestMiddleware {
  private readonly log = new RateLimitedLogger(new Logger(AnonymousThrottleMiddleware.name));

  constructor(
    @Optional()
    @Inject(ANONYMOUS_THROTTLE_OPTIONS)
    private readonly options?: AnonymousThrottleOptions,
    @Optional()
    @Inject(ANONYMOUS_THROTTLE_STORAGE)
    private readonly storage?: ThrottlerStorage,
  ) {}

  use(req: ThrottleRequest, res: ThrottleResponse, next: (error?: unknown) => void): void {
    const { options, storage } = this;
    if (!options || !storage || !this.counts(req)) return next();
    const { limit, windowMs } = options;
    storage
      .increment(clientAddressOf(req.ip), windowMs, limit, windowMs, ANONYMOUS_THROTTLER_NAME)
      .then(
        (hit) => {
          res.setHeader('X-RateLimit-Limit', limit);
          res.setHeader('X-RateLimit-Remaining', Math.max(0, limit - hit.totalHits));
          res.setHeader('X-RateLimit-Reset', Math.ceil(Date.now() / 1000) + hit.timeToExpire);
          if (!hit.isBlocked) return next();
          const retryAfterSeconds = Math.max(1, hit.timeToBlockExpire);
          res.setHeader('Retry-After', retryAfterSeconds);
          next(new AnonymousThrottledException(limit, windowMs, retryAfterSeconds));
        },
        (e: unknown) => {
          this.log.warn('throttle', `request not counted, let through: ${errorSummary(e)}`);
          next();
        },
      );
  }

  /** True for requests the throttle counts: not a probe or scrape, not counted by the quota. */
  private counts(req: ThrottleRequest): boolean {
    const path = (req.originalUrl ?? req.url).split('?')[0]!;
    return !isThrottleExcluded(path) && quotaKeyOf(req) === undefined;
  }
}
