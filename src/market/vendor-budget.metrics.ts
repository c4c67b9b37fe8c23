import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Counter, Gauge, type Registry } from 'prom-client';
import { CacheMetrics } from '../cache/index.js';
import { VendorBudgetHealth } from './vendor-budget.health.js';

/**
 * The vendor budget's Prometheus series, added to the `/metrics` registry (`CacheMetrics`, found
 * in whichever module provides it) and read at scrape time: `market_vendor_budget_remaining`,
 * `market_vendor_budget_exhausted`, `market_vendor_calls_total{kind,outcome}`,
 * `market_vendor_refreshes_deferred_total`, `market_vendor_refreshes_pending`,
 * `market_vendor_stale_served_for_budget_total`. Nothing when the source is not the HTTP vendor.
 */
@Injectable()
export class VendorBudgetMetrics implements OnModuleInit {
  constructor(
    @Inject(ModuleRef) private readonly modules: ModuleRef,
    @Inject(VendorBudgetHealth) private readonly health: VendorBudgetHealth,
  ) {}

  onModuleInit(): void {
    if (!this.health.budget.settings.enabled) return;
    let metrics: CacheMetrics;
    try {
      metrics = this.modules.get(CacheMetrics, { strict: false });
    } catch {
      return; // no /metrics in this app
    }
    this.register(metrics.registry);
  }

  /** Registers the series in `registry`. */
  register(registry: Registry): void {
    const { budget, refreshes } = this.health;
    const registers = [registry];
    new Gauge({
      name: 'market_vendor_budget_remaining',
      help: 'Vendor calls left in the shared budget (as of the last take on this instance)',
      registers,
      collect() {
        this.set(budget.lastRemaining);
      },
    });
    new Gauge({
      name: 'market_vendor_budget_exhausted',
      help: '1 while the vendor budget has no token left, else 0',
      registers,
      collect() {
        this.set(budget.lastRemaining <= 0 ? 1 : 0);
      },
    });
    new Counter({
      name: 'market_vendor_calls_total',
      help: 'Vendor calls asked of the budget, by kind (miss, refresh) and outcome (granted, refused)',
      labelNames: ['kind', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const kind of ['miss', 'refresh'] as const) {
          this.inc({ kind, outcome: 'granted' }, budget.counters.granted[kind]);
          this.inc({ kind, outcome: 'refused' }, budget.counters.refused[kind]);
        }
      },
    });
    new Counter({
      name: 'market_vendor_refreshes_deferred_total',
      help: 'Refreshes put off until the vendor budget had tokens again',
      registers,
      collect() {
        this.reset();
        this.inc(budget.counters.refreshesDeferred);
      },
    });
    new Gauge({
      name: 'market_vendor_refreshes_pending',
      help: 'Deferred refreshes waiting for tokens on this instance',
      registers,
      collect() {
        this.set(refreshes.pending);
      },
    });
    new Counter({
      name: 'market_vendor_stale_served_for_budget_total',
      help: 'Reads answered stale while their refresh waited for the vendor budget',
      registers,
      collect() {
        this.reset();
        this.inc(budget.counters.staleServedForBudget);
      },
    });
  }
}
