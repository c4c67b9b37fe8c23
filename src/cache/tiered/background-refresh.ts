import { randomUUID } from 'node:crypto';
import { FactoryTimeoutError } from '../errors/cache-errors.js';
import type { ResolvedKey } from '../keys/cache-key-builder.js';
import { errorSummary } from '../util/rate-limited-logger.js';
import { observedFactory, raceFactory } from './factory-runner.js';
import type { TierStack } from './tier-stack.js';
import type { Factory, TieredCallOptions } from './tiered-cache.options.js';

/**
 * Refreshes stale keys in the background (stale-while-revalidate): at most one refresh per key in
 * this process (a set of keys refreshing) and across instances (the distributed lock). Lock busy →
 * skip; L2 already holds a newer fresh value → copy it to L1; else the factory (hard timeout) and
 * a write. A failed refresh is counted and logged; the stale value stays.
 */
export class BackgroundRefresher {
  private readonly refreshing = new Set<string>();

  constructor(
    private readonly stack: TierStack,
    /** Default hard factory timeout, in ms. */
    private readonly hardTimeoutMs: number,
    /** Lifetime of the distributed lock, in ms. */
    private readonly lockTtlMs: number,
  ) {}

  /** Starts one refresh of `key` unless one runs already (`staleAsOf`: when the stale value was produced, epoch ms). */
  refresh<T>(
    key: ResolvedKey,
    factory: Factory<T>,
    options: TieredCallOptions,
    staleAsOf: number,
  ): void {
    const { stack } = this;
    if (this.refreshing.has(key.storageKey)) return;
    this.refreshing.add(key.storageKey);
    const counters = stack.stats.of(key.type);
    const lockKey = stack.keys.lockKey(key.storageKey);
    const token = randomUUID();
    const hardTimeoutMs = options.hardTimeoutMs ?? this.hardTimeoutMs;
    const job = (async () => {
      const lock = await stack.store.acquireLock(lockKey, token, this.lockTtlMs);
      if (lock === 'busy') return;
      try {
        // Another instance may have refreshed it already: then its value is enough.
        const current = await stack.readL2<T>(key);
        if (current && current.asOf > staleAsOf && Date.now() < current.staleAt) {
          stack.l1.set(key.storageKey, current);
          return;
        }
        counters.backgroundRefreshes++;
        // The value's `asOf` is when the factory started: a write made meanwhile is newer.
        const started = Date.now();
        const context = { kind: 'refresh', staleAsOf } as const;
        const work = observedFactory(factory, key.type, 'refresh', stack.stats, context);
        const outcome = await raceFactory(work, undefined, hardTimeoutMs);
        if (outcome.kind !== 'value')
          throw outcome.kind === 'error'
            ? outcome.error
            : new FactoryTimeoutError(key.storageKey, hardTimeoutMs);
        const ttl = options.ttlOf?.(outcome.value) ?? options.ttl;
        const ttlMs = stack.ttlMsOf(ttl, key.type);
        await stack.write(key, outcome.value, ttlMs, Date.now(), started);
      } catch (e) {
        counters.refreshFailures++;
        stack.log.warn(
          'refresh',
          `background refresh failed; the stale value stays: ${errorSummary(e)}`,
        );
      } finally {
        if (lock === 'acquired') await stack.store.releaseLock(lockKey, token);
      }
    })().finally(() => this.refreshing.delete(key.storageKey));
    stack.track(job);
  }
}
