/** Injection token of the anonymous throttle's settings (`AnonymousThrottleOptions`). */
export const ANONYMOUS_THROTTLE_OPTIONS = 'MARKET_APP:ANONYMOUS_THROTTLE_OPTIONS';

/** Injection token of the `ThrottlerStorage` (the `@nestjs/throttler` contract) the anonymous throttle counts with. */
export const ANONYMOUS_THROTTLE_STORAGE = 'MARKET_APP:ANONYMOUS_THROTTLE_STORAGE';

/** Settings of the anonymous throttle. */
export interface AnonymousThrottleOptions {
  /** Requests per client address per window; past it 429. */
  limit: number;
  /** Length of a window, in milliseconds, from the address's first counted request. */
  windowMs: number;
}
