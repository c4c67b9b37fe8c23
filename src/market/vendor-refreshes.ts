import { randomUUID } from 'node:crypto';
import {
  budgetErrorOf,
  CacheKeyBuilder,
  CacheService,
  CacheTTLPolicy,
  SourceBudgetExhaustedError,
  type CacheKeyType,
  type CacheSource,
  type CacheStore,
  type Factory,
  type FactoryContext,
} from '../cache/index.js';
import type { VendorBudget, VendorCallKind } from './vendor-budget.js';

/** Most tickers (and keys) whose recent requests are remembered (the least recently seen go first). */
export const MAX_TRACKED_KEYS = 10_000;

/** Recent requests of one ticker: a count halved every budget window. */
interface Demand {
  hits: number;
  /** Window number (`now / windowMs`) of `hits`. */
  window: number;
}

/** A refresh put off until tokens come back. */
interface Deferred {
  keyType: CacheKeyType;
  factory: Factory<unknown>;
}

/**
 * Which vendor calls go first when the budget is short, per instance (in-process state):
 *
 * - every request of a ticker is counted (`hit`, from `VendorDemandMiddleware`, before the HTTP
 *   response cache answers it); counts halve every budget window, so "hot" means asked often
 *   lately; a key is as hot as its ticker (its entity segment);
 * - a factory call (`wrap`) is a `miss` when nobody has the data, else a `refresh`, as the cache's
 *   factory context says (a stale or fail-safe value held: `refresh`); a caller that gives no
 *   context gets the old guess (this instance served none within TTL + max staleness, and the
 *   store holds no entry: one `EXISTS`); misses may spend every token, refreshes leave the miss
 *   reserve;
 * - a refused refresh, or one asked while a hotter key waits, is deferred: the reader keeps the
 *   stale value (fail-safe, within the key type's max staleness) and the refresh runs when tokens
 *   come back, hottest first, one at a time, under the cache's per-key lock (so two instances do
 *   not refresh the same key), skipped when another instance already wrote a newer value.
 */
export class VendorRefreshes {
  private readonly demand = new Map<string, Demand>();
  /** Logical key → `asOf` of the value last served for it. */
  private readonly served = new Map<string, number>();
  private readonly deferred = new Map<string, Deferred>();
  private timer?: NodeJS.Timeout;
  private timerAt = 0;
  private draining = false;
  private closed = false;

  constructor(
    private readonly cache: CacheService,
    private readonly policy: CacheTTLPolicy,
    private readonly store: CacheStore,
    private readonly keys: CacheKeyBuilder,
    private readonly budget: VendorBudget,
    /** Lifetime of the per-key lock taken by a deferred refresh, in ms. */
    private readonly lockTtlMs = 15_000,
  ) {}

  /** Refreshes waiting for tokens on this instance. */
  get pending(): number {
    return this.deferred.size;
  }

  /** Counts one request of `ticker` (any route of it). */
  hit(ticker: string): void {
    if (!this.budget.settings.enabled) return;
    const t = ticker.trim().toUpperCase().slice(0, 32);
    const d = this.decayed(t) ?? { hits: 0, window: this.window() };
    d.hits++;
    remember(this.demand, t, d);
  }

  /** Notes a read of `key` answered from `r.source` with data produced at `r.asOf`. */
  record(key: string, r: { source: CacheSource; asOf: number }): void {
    if (!this.budget.settings.enabled) return;
    remember(this.served, key, Math.max(this.served.get(key) ?? 0, r.asOf));
    if (r.source === 'stale' && this.deferred.has(key)) this.budget.counters.staleServedForBudget++;
  }

  /** Recent requests of the ticker of `key` (halved every budget window). */
  hits(key: string): number {
    const entity = key.split(':')[1];
    if (entity === undefined) return 0;
    return this.decayed(CacheKeyBuilder.unescape(entity).toUpperCase())?.hits ?? 0;
  }

  /** `factory` as a vendor call of the right kind, deferred when the budget says so (see the class comment). */
  wrap<T>(key: string, keyType: CacheKeyType, factory: Factory<T>): Factory<T> {
    if (!this.budget.settings.enabled) return factory;
    return async (context?: FactoryContext) => {
      // The cache says whether a value is held (no store call); the guess is for callers without it.
      const kind = context?.kind ?? (await this.kindOf(key, keyType));
      const run = () => factory(context ?? { kind });
      if (kind === 'refresh' && this.hotterWaiting(key)) {
        this.defer(key, keyType, factory as Factory<unknown>);
        throw new SourceBudgetExhaustedError(
          this.budget.settings.name,
          Math.max(1, this.timerAt - Date.now()),
        );
      }
      try {
        const value = await this.budget.run(kind, run);
        this.deferred.delete(key);
        return value;
      } catch (e) {
        const refused = budgetErrorOf(e);
        if (refused && kind === 'refresh')
          this.defer(key, keyType, factory as Factory<unknown>, refused.retryAfterMs);
        throw e;
      }
    };
  }

  /** Stops the drain timer (shutdown). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async kindOf(key: string, keyType: CacheKeyType): Promise<VendorCallKind> {
    const asOf = this.served.get(key) ?? 0;
    const keptMs = (this.policy.ttlFor(keyType) + this.policy.maxStalenessFor(keyType)) * 1000;
    if (asOf > 0 && Date.now() < asOf + keptMs) return 'refresh';
    // Another instance may have served it: the store keeps an entry until its max staleness.
    return (await this.store.exists(this.keys.storageKey(key))) ? 'refresh' : 'miss';
  }

  private hotterWaiting(key: string): boolean {
    const mine = this.hits(key);
    for (const other of this.deferred.keys())
      if (other !== key && this.hits(other) > mine) return true;
    return false;
  }

  private defer(key: string, keyType: CacheKeyType, factory: Factory<unknown>, waitMs?: number) {
    if (!this.deferred.has(key)) this.budget.counters.refreshesDeferred++;
    this.deferred.set(key, { keyType, factory });
    if (waitMs !== undefined || this.timer === undefined) this.schedule(waitMs ?? 1000);
  }

  private schedule(waitMs: number): void {
    if (this.closed) return;
    const at = Date.now() + waitMs;
    if (this.timer !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, waitMs);
    this.timer.unref();
  }

  /** Runs deferred refreshes, hottest first, until none is left or the budget refuses. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.deferred.size > 0 && !this.closed) {
        const key = this.hottest();
        const job = this.deferred.get(key)!;
        const refused = await this.refreshNow(key, job);
        if (refused) return this.schedule(refused.retryAfterMs);
        this.deferred.delete(key);
      }
    } finally {
      this.draining = false;
    }
  }

  /** One deferred refresh under the key's lock; answers the refusal when the budget said no. */
  private async refreshNow(
    key: string,
    job: Deferred,
  ): Promise<SourceBudgetExhaustedError | undefined> {
    const lockKey = this.keys.lockKey(this.keys.storageKey(key));
    const token = randomUUID();
    const lock = await this.store.acquireLock(lockKey, token, this.lockTtlMs);
    if (lock === 'busy') return undefined; // another instance refreshes it now
    try {
      const known = this.served.get(key) ?? 0;
      const current = await this.cache.get(key, { keyType: job.keyType });
      if (current && current.source !== 'stale' && current.asOf > known) return undefined;
      const started = Date.now();
      const context = { kind: 'refresh', staleAsOf: known || undefined } as const;
      const value = await this.budget.run('refresh', () => job.factory(context));
      // Monotonic: a value written since the refresh started is newer and stays.
      await this.cache.set(key, value, { keyType: job.keyType, asOf: started });
      this.budget.counters.deferredRun++;
      return undefined;
    } catch (e) {
      // Another failure drops the refresh: the next read asks again.
      return budgetErrorOf(e);
    } finally {
      if (lock === 'acquired') await this.store.releaseLock(lockKey, token);
    }
  }

  private hottest(): string {
    let best = '';
    let bestHits = -1;
    for (const key of this.deferred.keys()) {
      const h = this.hits(key);
      if (h > bestHits) [best, bestHits] = [key, h];
    }
    return best;
  }

  private window(): number {
    return Math.floor(Date.now() / this.budget.settings.limits.windowMs);
  }

  private decayed(ticker: string): Demand | undefined {
    const d = this.demand.get(ticker);
    if (!d) return undefined;
    const w = this.window();
    if (w > d.window) {
      d.hits = d.hits / 2 ** Math.min(60, w - d.window);
      d.window = w;
    }
    return d;
  }
}

/** Sets `key` last in `map` (its order: least recently set first), dropping the oldest past `MAX_TRACKED_KEYS`. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_TRACKED_KEYS) map.delete(map.keys().next().value!);
}
