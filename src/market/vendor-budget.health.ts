import { Inject, Injectable } from '@nestjs/common';
import type { VendorBudget } from './vendor-budget.js';
import { VendorRefreshes } from './vendor-refreshes.js';

/** Injection token of the app's `VendorBudget`. */
export const VENDOR_BUDGET = 'MARKET:VENDOR_BUDGET';

/** The vendor budget's figures for `/health/detailed` (`services.vendor_budget`) and `/metrics`. */
@Injectable()
export class VendorBudgetHealth {
  constructor(
    @Inject(VENDOR_BUDGET) readonly budget: VendorBudget,
    @Inject(VendorRefreshes) readonly refreshes: VendorRefreshes,
  ) {}

  /** The section, or undefined when the source is not the HTTP vendor. Reads the shared budget once (bounded by the store's timeout). */
  async report(): Promise<Record<string, unknown> | undefined> {
    const { budget } = this;
    if (!budget.settings.enabled) return undefined;
    const state = await budget.state();
    const c = budget.counters;
    const { perWindow, perDay, windowMs } = budget.settings.limits;
    return {
      status: state.exhausted ? 'exhausted' : 'ok',
      scope: state.scope,
      remaining: state.remaining,
      retry_after_ms: state.retryAfterMs,
      calls_per_window: perWindow,
      calls_per_day: Number.isFinite(perDay) ? perDay : 0,
      window_ms: windowMs,
      miss_reserve_percent: budget.settings.missReservePercent,
      granted: { ...c.granted },
      refused: { ...c.refused },
      refreshes_deferred: c.refreshesDeferred,
      refreshes_pending: this.refreshes.pending,
      deferred_refreshes_run: c.deferredRun,
      stale_served_for_budget: c.staleServedForBudget,
      local_takes: c.localTakes,
    };
  }
}

/**
 * `report` with the vendor budget added under `services.vendor_budget`; an exhausted budget turns
 * an `ok` status into `degraded` (reads are served stale or refused with 503 + `Retry-After`).
 * Without the budget (another source), `report` as it is.
 */
export async function withVendorBudget<
  R extends { status: string; services: Record<string, unknown>; reasons?: string[] },
>(health: VendorBudgetHealth | undefined, report: R): Promise<R> {
  const section = await health?.report();
  if (!section) return report;
  const out: R = { ...report, services: { ...report.services, vendor_budget: section } };
  if (section.status !== 'exhausted') return out;
  const reasons = [...(report.reasons ?? []), 'vendor_budget_exhausted'];
  return {
    ...out,
    status: report.status === 'ok' ? 'degraded' : report.status,
    reason: reasons[0],
    reasons,
  };
}
