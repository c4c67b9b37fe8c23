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
  type RefreshWaitingList,
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
  /** Demand score last put on the fleet's waiting list (undefined: not yet). */
  announced?: number;
  /** Another instance held its lock: not tried again before this time (ms). */
  busyUntil?: number;
}

/** What one deferred refresh came to: run (or found already refreshed, or failed), its lock held elsewhere, or refused by the budget. */
type RefreshOutcome = 'done' | 'busy' | SourceBudgetExhaustedError;

/** Options of `VendorRefreshes`. */
export interface VendorRefreshesOptions {
  /** Lifetime of the per-key lock taken by a deferred refresh, in ms. Default 15 000. */
  lockTtlMs?: number;
  /** The fleet's list of waiting refreshes (shared through Redis); without it each instance orders its own alone. */
  waiting?: RefreshWaitingList;
  /**
   * Longest wait, in ms, for another instance to run a hotter refresh it holds before this one
   * spends a token on a cooler one of its own (that instance may have stopped). Default: a
   * quarter of the budget window, at most 2 000.
   */
  yieldGraceMs?: number;
}

/** How often an instance waiting for another's hotter refresh looks again, in ms. */
const YIELD_POLL_MS = 100;
/** Rise of a key's demand score (log2 of its hits) that is announced again to the fleet: about 7 % more hits. */
const ANNOUNCE_STEP = 0.1;

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
 *   not refresh the same key), skipped when another instance already wrote a newer value;
 * - hottest first across the fleet: each instance puts the refreshes it defers on a waiting list
 *   in Redis (`RefreshWaitingList`) with their demand; before running a refresh of its own it
 *   looks at the top of that list and, when another instance holds a hotter one, leaves the token
 *   to it (looking again every 100 ms, for at most `yieldGraceMs`; then the entry is taken off as
 *   abandoned). A demand is scored `log2(hits) + window number`, which halving every window leaves
 *   unchanged, so scores announced in different windows compare.
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
  /** The other instance's hotter refresh this one is waiting for, since when. */
  private yielding?: { key: string; since: number };
  private readonly lockTtlMs: number;
  private readonly waiting?: RefreshWaitingList;
  private readonly yieldGraceMs: number;

  constructor(
    private readonly cache: CacheService,
    private readonly policy: CacheTTLPolicy,
    private readonly store: CacheStore,
    private readonly keys: CacheKeyBuilder,
    private readonly budget: VendorBudget,
    options: VendorRefreshesOptions = {},
  ) {
    this.lockTtlMs = options.lockTtlMs ?? 15_000;
    this.waiting = options.waiting?.shared ? options.waiting : undefined;
    this.yieldGraceMs =
      options.yieldGraceMs ?? Math.min(2000, Math.floor(budget.settings.limits.windowMs / 4));
  }

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
        await this.forget(key);
        return value;
      } catch (e) {
        const refused = budgetErrorOf(e);
        if (refused && kind === 'refresh')
          this.defer(key, keyType, factory as Factory<unknown>, refused.retryAfterMs);
        throw e;
      }
    };
  }

  /** Stops the drain timer and takes this instance's refreshes off the fleet's list (shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const held = [...this.deferred.keys()];
    this.deferred.clear();
    await this.waiting?.withdraw(this.budget.settings.name, held);
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
    const known = this.deferred.get(key);
    if (!known) this.budget.counters.refreshesDeferred++;
    const job: Deferred = { keyType, factory, announced: known?.announced };
    this.deferred.set(key, job);
    void this.announce(key, job);
    if (waitMs !== undefined || this.timer === undefined) this.schedule(waitMs ?? 1000);
  }

  /** Puts `key` on the fleet's list with its demand (`score`), unless it is there with about as much. */
  private async announce(key: string, job: Deferred, score = this.score(key)): Promise<void> {
    if (!this.waiting) return;
    if (job.announced !== undefined && score < job.announced + ANNOUNCE_STEP) return;
    job.announced = score;
    const { name, limits } = this.budget.settings;
    await this.waiting.announce(name, key, score, limits.windowMs);
  }

  /** Drops `key`'s deferred refresh here and from the fleet's list (it ran, or will not). */
  private async forget(key: string): Promise<void> {
    if (this.deferred.delete(key)) await this.waiting?.withdraw(this.budget.settings.name, [key]);
  }

  /** Demand of `key` as a score that halving every window leaves unchanged: `log2(hits) + window`. */
  private score(key: string): number {
    return Math.log2(Math.max(this.hits(key), 2 ** -30)) + this.window();
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
        const key = await this.next();
        if (key === undefined) return this.schedule(YIELD_POLL_MS);
        const job = this.deferred.get(key);
        if (!job) continue; // run meanwhile by a read of this instance
        const outcome = await this.refreshNow(key, job);
        if (outcome === 'done') await this.forget(key);
        // Another instance is on it: kept (that one may yet be refused), looked at again shortly.
        else if (outcome === 'busy') job.busyUntil = Date.now() + YIELD_POLL_MS;
        else return this.schedule(outcome.retryAfterMs);
      }
    } finally {
      this.draining = false;
    }
  }

  /** One deferred refresh under the key's lock. */
  private async refreshNow(key: string, job: Deferred): Promise<RefreshOutcome> {
    const lockKey = this.keys.lockKey(this.keys.storageKey(key));
    const token = randomUUID();
    const lock = await this.store.acquireLock(lockKey, token, this.lockTtlMs);
    if (lock === 'busy') return 'busy'; // another instance refreshes it now
    try {
      const known = this.served.get(key) ?? 0;
      const current = await this.cache.get(key, { keyType: job.keyType });
      if (current && current.source !== 'stale' && current.asOf > known) return 'done';
      const started = Date.now();
      const context = { kind: 'refresh', staleAsOf: known || undefined } as const;
      const value = await this.budget.run('refresh', () => job.factory(context));
      // Monotonic: a value written since the refresh started is newer and stays.
      await this.cache.set(key, value, { keyType: job.keyType, asOf: started });
      this.budget.counters.deferredRun++;
      return 'done';
    } catch (e) {
      // Another failure drops the refresh: the next read asks again.
      return budgetErrorOf(e) ?? 'done';
    } finally {
      if (lock === 'acquired') await this.store.releaseLock(lockKey, token);
    }
  }

  /**
   * The deferred refresh to run next, or undefined to look again shortly: this instance's hottest
   * (leaving out those another instance is running), unless the fleet's list holds a hotter one;
   * then that one when this instance holds it too, else nothing while its instance has not run it
   * (for at most `yieldGraceMs`; then it is taken off the list as abandoned).
   */
  private async next(): Promise<string | undefined> {
    const now = Date.now();
    const mine = this.hottest(now);
    if (!this.waiting) return mine;
    const mineScore = mine === undefined ? -Infinity : this.score(mine);
    if (mine !== undefined) await this.announce(mine, this.deferred.get(mine)!, mineScore);
    const top = await this.waiting.top(this.budget.settings.name);
    if (!top || top.key === mine || top.score <= mineScore) {
      this.yielding = undefined;
      return mine;
    }
    const held = this.deferred.get(top.key);
    if (held && !isBusy(held, now)) {
      this.yielding = undefined;
      return top.key;
    }
    if (this.yielding?.key !== top.key) this.yielding = { key: top.key, since: now };
    if (now - this.yielding.since < this.yieldGraceMs) return undefined;
    // Not run within the grace: its instance stopped or lost Redis. Off the list, and on with ours.
    this.yielding = undefined;
    await this.waiting.withdraw(this.budget.settings.name, [top.key]);
    return mine;
  }

  /** The deferred key of the most hits, leaving out those another instance is running. */
  private hottest(now: number): string | undefined {
    let best: string | undefined;
    let bestHits = -1;
    for (const [key, job] of this.deferred) {
      if (isBusy(job, now)) continue;
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

/** True while another instance held the lock of `job`'s key a moment ago. */
function isBusy(job: Deferred, now: number): boolean {
  return job.busyUntil !== undefined && job.busyUntil > now;
}

/** Sets `key` last in `map` (its order: least recently set first), dropping the oldest past `MAX_TRACKED_KEYS`. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_TRACKED_KEYS) map.delete(map.keys().next().value!);
}
