import { LRUCache } from 'lru-cache';

/** What this instance remembers of one counter: the last count (from the store, or its own while degraded). */
export interface LocalCount {
  /** The count: the store's last answer plus what this instance counted since. */
  value: number;
  /** Epoch ms at which the count's window ends. */
  resetAt: number;
  /** True once this instance counted the key itself (the store could not answer). */
  local: boolean;
  /** Requests counted here (the store could not answer) and not yet added to the store's counter. */
  owed: number;
  /** Length of the count's window, in ms. */
  windowMs: number;
}

/** Counts owed to the store for one key, taken out of the fallback to be added there. */
export interface OwedCount {
  amount: number;
  /** Epoch ms at which the counts' window ends. */
  resetAt: number;
  /** Length of that window, in ms. */
  windowMs: number;
}

/**
 * The per-instance fallback of a family of counters: an LRU of at most `max` keys (O(1) per hit,
 * no sweep) holding the last count the store answered for each key, continued locally while the
 * store cannot answer. With `keepsOwed`, it also remembers per key how many requests it counted
 * alone (`owed`), to be added to the store's counter once the store answers again; those of a key
 * evicted from the LRU, or whose window ended, are dropped (`dropped`).
 */
export class LocalCounts {
  private readonly lru: LRUCache<string, LocalCount>;
  /** Keys with `owed > 0`. */
  private readonly owing = new Set<string>();
  private owedTotal = 0;
  private droppedTotal = 0;

  constructor(
    max: number,
    private readonly keepsOwed: boolean,
  ) {
    this.lru = new LRUCache<string, LocalCount>({
      max,
      dispose: (entry, key, reason) => {
        if (reason === 'evict') this.drop(key, entry);
      },
    });
  }

  /** Remembers the store's count of `key` in a window of `windowMs` ms (plus what it still owes in a live window). */
  seen(key: string, value: number, resetAt: number, now: number, windowMs: number): void {
    const known = this.lru.peek(key);
    const owed = known && known.resetAt > now ? known.owed : 0;
    if (known && owed === 0) this.drop(key, known);
    this.lru.set(key, { value: value + owed, resetAt, local: false, owed, windowMs });
  }

  /**
   * Counts one request of `key` here: continues the remembered count while its window lasts, else
   * starts one ending in `ttlMs` ms (of a window of `windowMs` ms).
   */
  hit(key: string, now: number, ttlMs: number, windowMs: number): LocalCount {
    const known = this.lru.get(key);
    const live = known !== undefined && known.resetAt > now;
    if (known && !live) this.drop(key, known);
    const owed = this.keepsOwed ? (live ? known.owed : 0) + 1 : 0;
    const entry: LocalCount = live
      ? { value: known.value + 1, resetAt: known.resetAt, local: true, owed, windowMs }
      : { value: 1, resetAt: now + ttlMs, local: true, owed, windowMs };
    this.lru.set(key, entry);
    if (owed > 0) {
      this.owing.add(key);
      this.owedTotal++;
    }
    return entry;
  }

  /**
   * Takes out what `key` owes the store (zero when nothing, or when its window has ended: then
   * it is dropped). Put it back with `giveBack` when the store could not take it.
   */
  takeOwed(key: string, now: number): OwedCount | undefined {
    const entry = this.lru.peek(key);
    if (!entry || entry.owed === 0) return undefined;
    if (entry.resetAt <= now) {
      this.drop(key, entry);
      return undefined;
    }
    const taken = { amount: entry.owed, resetAt: entry.resetAt, windowMs: entry.windowMs };
    this.owedTotal -= entry.owed;
    entry.owed = 0;
    this.owing.delete(key);
    return taken;
  }

  /** Puts back counts taken with `takeOwed` that the store did not take (dropped once their window has ended). */
  giveBack(key: string, taken: OwedCount, now: number): void {
    if (taken.resetAt <= now) return this.forfeit(taken);
    const entry = this.lru.peek(key);
    if (entry && entry.resetAt > now) entry.owed += taken.amount;
    else {
      if (entry) this.drop(key, entry);
      const { amount, resetAt, windowMs } = taken;
      this.lru.set(key, { value: amount, resetAt, local: true, owed: amount, windowMs });
    }
    this.owing.add(key);
    this.owedTotal += taken.amount;
  }

  /** Drops counts taken with `takeOwed` that can no longer be added (their window is over). */
  forfeit(taken: OwedCount): void {
    this.droppedTotal += taken.amount;
  }

  /** Keys that owe counts to the store now (a copy). */
  owingKeys(): string[] {
    return [...this.owing];
  }

  /** The remembered count of `key`, without touching its recency. */
  peek(key: string): LocalCount | undefined {
    return this.lru.peek(key);
  }

  /** Keys remembered. */
  get size(): number {
    return this.lru.size;
  }

  /** Requests counted here and not yet added to the store. */
  get owed(): number {
    return this.owedTotal;
  }

  /** Requests counted here that were never added to the store: evicted from the LRU first, or their window ended first. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Forgets what `entry` (of `key`) owes: counted as dropped. */
  private drop(key: string, entry: LocalCount): void {
    if (entry.owed === 0) return;
    this.owedTotal -= entry.owed;
    this.droppedTotal += entry.owed;
    entry.owed = 0;
    this.owing.delete(key);
  }
}
