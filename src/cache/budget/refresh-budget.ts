/**
 * A shared call budget for a rate-limited source (a market-data vendor): at most `perWindow`
 * calls in any window of `windowMs` and at most `perDay` calls per UTC day. Tokens are taken one
 * call at a time and come back one window after they were spent (a sliding-window log), so no
 * window of `windowMs` ever holds more than `perWindow` grants — a plain refilling bucket would
 * allow up to twice that across a window boundary.
 */

/** Limits of one budget. */
export interface BudgetLimits {
  /** Calls allowed in any window of `windowMs`. */
  perWindow: number;
  /** Calls allowed per UTC day; 0 or absent = no daily limit. */
  perDay?: number;
  /** Length of the sliding window, in milliseconds. Default 60 000 (per minute). */
  windowMs?: number;
}

/** Options of one take. */
export interface BudgetTakeOptions {
  /**
   * Share (0–1) of each limit that must still be left after this take: callers of lower priority
   * (refreshes of data that is only stale) pass a reserve that callers of higher priority (misses)
   * may still spend. Default 0.
   */
  keepFraction?: number;
}

/** Outcome of a take. */
export interface BudgetGrant {
  granted: boolean;
  /** Tokens left after this take: the smaller of the window's and the day's (never negative). */
  remaining: number;
  /** When refused: milliseconds until a take of the same cost could be granted; 0 when granted. */
  retryAfterMs: number;
  /** `shared` when the store answered; `local` when this instance's share answered (no shared store, or it failed). */
  scope: 'shared' | 'local';
}

/** A call budget: `take` is atomic across everything sharing the budget. */
export interface RefreshBudget {
  /** Takes `cost` tokens of budget `name` (0 = only read the state), or refuses without taking any. */
  take(
    name: string,
    cost: number,
    limits: BudgetLimits,
    options?: BudgetTakeOptions,
  ): Promise<BudgetGrant>;
}

/** Default sliding window of a budget, in milliseconds. */
export const DEFAULT_BUDGET_WINDOW_MS = 60_000;
/** One UTC day, in milliseconds. */
export const DAY_MS = 86_400_000;

/** The source's budget is spent: the call was not made. `retryAfterMs`: when it may succeed. */
export class SourceBudgetExhaustedError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'SOURCE_BUDGET_EXHAUSTED' as const;

  constructor(
    readonly budget: string,
    readonly retryAfterMs: number,
  ) {
    super(`the call budget of ${budget} is spent; retry in ${Math.ceil(retryAfterMs)} ms`);
    this.name = 'SourceBudgetExhaustedError';
  }

  /** `retryAfterMs` in whole seconds, at least 1 (for `Retry-After`). */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.retryAfterMs / 1000));
  }
}

/** The `SourceBudgetExhaustedError` of `error` or of its `cause` (a factory error wraps it), else undefined. */
export function budgetErrorOf(error: unknown): SourceBudgetExhaustedError | undefined {
  if (error instanceof SourceBudgetExhaustedError) return error;
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof SourceBudgetExhaustedError ? cause : undefined;
}

/** Limits checked and with defaults: `perDay` 0 = none (Infinity here). */
export function normalizeLimits(limits: BudgetLimits): Required<BudgetLimits> {
  const { perWindow, perDay = 0, windowMs = DEFAULT_BUDGET_WINDOW_MS } = limits;
  if (!Number.isInteger(perWindow) || perWindow < 0)
    throw new RangeError('perWindow must be a non-negative integer');
  if (!Number.isInteger(perDay) || perDay < 0)
    throw new RangeError('perDay must be a non-negative integer');
  if (!Number.isInteger(windowMs) || windowMs < 1)
    throw new RangeError('windowMs must be a positive integer (ms)');
  return { perWindow, perDay: perDay === 0 ? Infinity : perDay, windowMs };
}

/** Tokens each limit must keep after a take with `keepFraction` (rounded up). */
export function reserveOf(limit: number, keepFraction = 0): number {
  const f = Math.min(1, Math.max(0, keepFraction));
  return Number.isFinite(limit) ? Math.ceil(limit * f) : 0;
}

/** What a local budget remembers of one name: grant times in the window (oldest first) and the day's count. */
interface LocalLog {
  stamps: number[];
  day: number;
  usedToday: number;
}

/**
 * The in-process budget: the same sliding-window log as the shared one, for one instance. Used
 * alone with the memory and file drivers, and as the fallback of the shared budget while its
 * store cannot answer. `divisor` (expected instances, default 1) divides every limit (rounded
 * down): the instance's share, so that a fleet counting apart stays within the budget.
 */
export class LocalRefreshBudget implements RefreshBudget {
  private readonly logs = new Map<string, LocalLog>();

  constructor(
    private readonly divisor = 1,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(divisor) || divisor < 1)
      throw new RangeError('divisor must be a positive integer');
  }

  /** The share of `limits` this instance takes from (each limit ÷ `divisor`, rounded down). */
  share(limits: BudgetLimits): Required<BudgetLimits> {
    const l = normalizeLimits(limits);
    return {
      perWindow: Math.floor(l.perWindow / this.divisor),
      perDay: Number.isFinite(l.perDay) ? Math.floor(l.perDay / this.divisor) : Infinity,
      windowMs: l.windowMs,
    };
  }

  async take(
    name: string,
    cost: number,
    limits: BudgetLimits,
    options: BudgetTakeOptions = {},
  ): Promise<BudgetGrant> {
    const { perWindow, perDay, windowMs } = this.share(limits);
    const now = this.now();
    const day = Math.floor(now / DAY_MS);
    let log = this.logs.get(name);
    if (!log) this.logs.set(name, (log = { stamps: [], day, usedToday: 0 }));
    if (log.day !== day) Object.assign(log, { day, usedToday: 0 });
    // Tokens spent a window ago or earlier are back.
    let expired = 0;
    while (expired < log.stamps.length && log.stamps[expired] <= now - windowMs) expired++;
    if (expired > 0) log.stamps.splice(0, expired);
    const leftWindow = perWindow - log.stamps.length;
    const leftDay = perDay - log.usedToday;
    const keepWindow = reserveOf(perWindow, options.keepFraction);
    const keepDay = reserveOf(perDay, options.keepFraction);
    if (leftWindow - cost >= keepWindow && leftDay - cost >= keepDay) {
      for (let i = 0; i < cost; i++) log.stamps.push(now);
      log.usedToday += cost;
      return grant(true, Math.min(leftWindow, leftDay) - cost, 0);
    }
    let waitMs = windowMs;
    if (leftDay - cost < keepDay) waitMs = (day + 1) * DAY_MS - now;
    else {
      // The grant that must expire first for this take to fit.
      const index = cost + keepWindow - leftWindow - 1;
      const stamp = log.stamps[index];
      if (stamp !== undefined) waitMs = stamp + windowMs - now;
    }
    return grant(false, Math.max(0, Math.min(leftWindow, leftDay)), Math.max(1, waitMs));
  }
}

function grant(granted: boolean, remaining: number, retryAfterMs: number): BudgetGrant {
  return {
    granted,
    remaining: Number.isFinite(remaining) ? remaining : Number.MAX_SAFE_INTEGER,
    retryAfterMs,
    scope: 'local',
  };
}
