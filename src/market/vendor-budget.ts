import { AsyncLocalStorage } from 'node:async_hooks';
import { trace } from '@opentelemetry/api';
import {
  SourceBudgetExhaustedError,
  type BudgetLimits,
  type RefreshBudget,
} from '../cache/index.js';

/** Why a vendor call is made: data nobody has (`miss`), or a newer copy of data still served stale (`refresh`). */
export type VendorCallKind = 'miss' | 'refresh';

/** Settings of the vendor's budget (from `VendorConfig`). */
export interface VendorBudgetSettings {
  /** False unless the source is the HTTP vendor: then nothing is taken or reported. */
  enabled: boolean;
  /** Name of the budget (its Redis keys). */
  name: string;
  /** Calls per window, per UTC day (0 = none), and the window in ms. */
  limits: Required<BudgetLimits>;
  /** Share of each limit, in percent, that refreshes leave to misses. */
  missReservePercent: number;
}

/** What the budget counted on this instance since start. */
export interface VendorBudgetCounters {
  granted: Record<VendorCallKind, number>;
  refused: Record<VendorCallKind, number>;
  /** Refreshes put off (refused, or behind a hotter key) to run when tokens come back. */
  refreshesDeferred: number;
  /** Deferred refreshes run later. */
  deferredRun: number;
  /** Reads answered stale while their refresh waited for the budget. */
  staleServedForBudget: number;
  /** Takes answered by this instance's share (no shared store, or Redis down). */
  localTakes: number;
}

/** The budget's state, as health and metrics show it. */
export interface VendorBudgetState {
  remaining: number;
  /** True while misses are refused (no token left for them). */
  exhausted: boolean;
  /** Milliseconds until a miss could be granted (0 when one could now). */
  retryAfterMs: number;
  scope: 'shared' | 'local';
}

/**
 * The gate in front of every metered vendor call: one token of the shared budget per HTTP attempt.
 * The kind of the call comes from the async context the caller set with `run` (default `miss`):
 * misses may spend every token; refreshes only while more than `missReservePercent` is left.
 * A refusal throws `SourceBudgetExhaustedError` (the call is not made).
 */
export class VendorBudget {
  /** Counters since start. */
  readonly counters: VendorBudgetCounters = {
    granted: { miss: 0, refresh: 0 },
    refused: { miss: 0, refresh: 0 },
    refreshesDeferred: 0,
    deferredRun: 0,
    staleServedForBudget: 0,
    localTakes: 0,
  };
  /** Tokens left as of the last take (for metrics, without a Redis call). */
  lastRemaining: number;
  private readonly kinds = new AsyncLocalStorage<VendorCallKind>();
  private missesRefusedUntil = 0;

  constructor(
    private readonly budget: RefreshBudget,
    readonly settings: VendorBudgetSettings,
  ) {
    this.lastRemaining = settings.limits.perWindow;
  }

  /** Runs `fn` with its vendor calls counted as `kind`. */
  run<T>(kind: VendorCallKind, fn: () => Promise<T> | T): Promise<T> {
    return this.kinds.run(kind, async () => fn());
  }

  /** Takes one token for a vendor call of the current kind; throws `SourceBudgetExhaustedError` when refused. */
  async acquire(): Promise<void> {
    if (!this.settings.enabled) return;
    const kind = this.kinds.getStore() ?? 'miss';
    const grant = await this.budget.take(this.settings.name, 1, this.settings.limits, {
      keepFraction: kind === 'refresh' ? this.settings.missReservePercent / 100 : 0,
    });
    this.lastRemaining = grant.remaining;
    if (grant.scope === 'local') this.counters.localTakes++;
    (grant.granted ? this.counters.granted : this.counters.refused)[kind]++;
    if (!grant.granted && kind === 'miss')
      this.missesRefusedUntil = Date.now() + grant.retryAfterMs;
    trace.getActiveSpan()?.setAttributes({
      'vendor.budget.kind': kind,
      'vendor.budget.granted': grant.granted,
      'vendor.budget.remaining': grant.remaining,
      'vendor.budget.scope': grant.scope,
    });
    if (!grant.granted)
      throw new SourceBudgetExhaustedError(this.settings.name, grant.retryAfterMs);
  }

  /** The budget's state now (reads the shared budget without taking a token). */
  async state(): Promise<VendorBudgetState> {
    const now = Date.now();
    const grant = await this.budget.take(this.settings.name, 0, this.settings.limits);
    this.lastRemaining = grant.remaining;
    const refusedFor = Math.max(0, this.missesRefusedUntil - now);
    return {
      remaining: grant.remaining,
      exhausted: grant.remaining <= 0,
      retryAfterMs: grant.remaining > 0 ? 0 : refusedFor,
      scope: grant.scope,
    };
  }
}
