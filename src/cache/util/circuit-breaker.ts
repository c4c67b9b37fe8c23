/** Options of `CircuitBreaker`. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold?: number;
  /** How long the breaker stays open before letting one trial call through, in ms. Default 2000. */
  openMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** Breaker states as reported in stats and health. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A consecutive-failure circuit breaker. While open, `allow()` is false so callers answer their
 * fallback at once instead of waiting for a timeout; after `openMs` one trial call is allowed
 * (half-open) and its outcome closes or re-opens the breaker.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private current: BreakerState = 'closed';
  private readonly threshold: number;
  private readonly openMs: number;
  private readonly now: () => number;
  /** Times the breaker opened since start. */
  opens = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 5;
    this.openMs = options.openMs ?? 2000;
    this.now = options.now ?? Date.now;
  }

  /** The current state (open turns half-open once `openMs` has passed). */
  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.openMs) return 'half-open';
    return this.current;
  }

  /** True when a call may go through now. */
  allow(): boolean {
    if (this.current === 'closed') return true;
    if (this.state === 'half-open' && !this.trialInFlight) {
      this.current = 'half-open';
      this.trialInFlight = true;
      return true;
    }
    return false;
  }

  /** Records a successful call: the breaker closes. */
  success(): void {
    this.failures = 0;
    this.trialInFlight = false;
    this.current = 'closed';
  }

  /** Records a failed call: enough of them in a row (or a failed trial) open the breaker. */
  failure(): void {
    this.failures++;
    this.trialInFlight = false;
    if (this.current === 'half-open' || this.failures >= this.threshold) {
      if (this.current !== 'open') this.opens++;
      this.current = 'open';
      this.openedAt = this.now();
    }
  }

  /** Opens the breaker at once (e.g. the connection is known to be down). */
  trip(): void {
    if (this.current !== 'open') this.opens++;
    this.current = 'open';
    this.openedAt = this.now();
    this.trialInFlight = false;
  }
}
