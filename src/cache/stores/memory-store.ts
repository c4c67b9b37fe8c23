import { LRUCache } from 'lru-cache';
import { assertTtlMs as checkTtl, positiveInteger } from '../util/arguments.js';
import { globToRegExp } from '../util/glob.js';
import {
  batchAnswer,
  checkAsOf,
  checkCounterArgs,
  setAnswer,
  storedIsNewer,
  type BatchAnswer,
  type BatchWriteOptions,
  type SetAnswer,
  type WriteOptions,
  type WriteOutcome,
  type CacheStore,
  type CounterOptions,
  type CounterValue,
  type StoreDescription,
  type StoreEntry,
  type StoreHealth,
  type StoreStats,
} from './cache-store.js';

interface Slot {
  value: string;
  /** Epoch ms. */
  expiresAt: number;
}

/** Options of `MemoryStore`. */
export interface MemoryStoreOptions {
  /** Most entries kept. Default 50 000. */
  maxEntries?: number;
  /** Most bytes kept (UTF-16 length × 2 of keys and values). Default 256 MiB. */
  maxBytes?: number;
}

/**
 * The embedded default L2 store: an in-process LRU (lru-cache) with per-key TTLs, bounded by
 * entries and bytes. Used when no Redis setting is given (`CACHE_DRIVER` unset → memory).
 */
export class MemoryStore implements CacheStore {
  readonly kind = 'memory' as const;
  private readonly lru: LRUCache<string, Slot>;
  private readonly stats: StoreStats = { hits: 0, misses: 0, errors: 0 };

  constructor(options: MemoryStoreOptions = {}) {
    const maxEntries = positiveInteger(options.maxEntries ?? 50_000, 'maxEntries');
    const maxBytes = positiveInteger(options.maxBytes ?? 256 * 1024 * 1024, 'maxBytes');
    this.lru = new LRUCache<string, Slot>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (slot, key) => (slot.value.length + key.length) * 2 || 1,
      ttlAutopurge: false,
      allowStale: false,
    });
  }

  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {
    this.lru.clear();
  }

  /** The live slot of `key` (expired slots are dropped here; lru-cache's clock is coarse). */
  private slot(key: string): Slot | undefined {
    const slot = this.lru.get(key);
    if (slot && slot.expiresAt <= Date.now()) {
      this.lru.delete(key);
      return undefined;
    }
    return slot;
  }

  private put(key: string, value: string, ttlMs: number): void {
    this.lru.set(key, { value, expiresAt: Date.now() + ttlMs }, { ttl: Math.ceil(ttlMs) + 1 });
  }

  async get(key: string): Promise<string | undefined> {
    const v = this.slot(key)?.value;
    if (v === undefined) this.stats.misses++;
    else this.stats.hits++;
    return v;
  }

  async set<O extends WriteOptions | undefined = undefined>(
    key: string,
    value: string,
    ttlMs: number,
    options?: O,
  ): Promise<SetAnswer<O>> {
    checkTtl(ttlMs);
    checkAsOf(options?.asOf);
    return setAnswer(options, this.write({ key, value, ttlMs, asOf: options?.asOf }));
  }

  /** One write, compared in process when it carries an `asOf` (see `CacheStore.set`). */
  private write(e: StoreEntry): WriteOutcome {
    if (storedIsNewer(this.slot(e.key)?.value, e.asOf)) return 'kept-newer';
    this.put(e.key, e.value, e.ttlMs);
    return this.lru.has(e.key) ? 'written' : 'failed';
  }

  async delete(key: string): Promise<boolean> {
    return this.slot(key) !== undefined && this.lru.delete(key);
  }

  async exists(key: string): Promise<boolean> {
    return this.slot(key) !== undefined;
  }

  async ttl(key: string): Promise<number> {
    const slot = this.slot(key);
    return slot ? Math.max(0, slot.expiresAt - Date.now()) : -2;
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    const slot = this.slot(key);
    if (!slot) return false;
    this.put(key, slot.value, ttlMs);
    return true;
  }

  async keys(pattern: string): Promise<string[]> {
    const re = globToRegExp(pattern);
    const out: string[] = [];
    for (const k of [...this.lru.keys()]) if (re.test(k) && this.slot(k)) out.push(k);
    return out;
  }

  async pipelineGet(keys: readonly string[]): Promise<(string | undefined)[]> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  async pipelineSet<O extends BatchWriteOptions | undefined = undefined>(
    entries: readonly StoreEntry[],
    options?: O,
  ): Promise<BatchAnswer<O>> {
    for (const e of entries) checkTtl(e.ttlMs);
    for (const e of entries) checkAsOf(e.asOf, `asOf of '${e.key}'`);
    const outcomes = entries.map((e) => this.write(e));
    // A later entry may have evicted an earlier one (the bounds): it was not stored after all.
    entries.forEach((e, i) => {
      if (outcomes[i] === 'written' && !this.lru.has(e.key)) outcomes[i] = 'failed';
    });
    return batchAnswer(options, outcomes);
  }

  async flushPattern(pattern: string, filter?: (key: string) => boolean): Promise<number> {
    let n = 0;
    for (const k of await this.keys(pattern)) if ((!filter || filter(k)) && this.lru.delete(k)) n++;
    return n;
  }

  async increment(key: string, ttlMs: number, options?: CounterOptions): Promise<CounterValue> {
    checkCounterArgs(ttlMs, options);
    const slot = this.slot(key);
    const current = slot ? Number(slot.value) || 0 : 0;
    const remaining = slot ? Math.max(1, slot.expiresAt - Date.now()) : ttlMs;
    const max = options?.maxTtlMs;
    if (slot && max !== undefined && remaining > max)
      return { value: current, ttlMs: remaining, laterWindow: true };
    const value = current + (options?.by ?? 1);
    this.put(key, String(value), remaining);
    return { value, ttlMs: remaining };
  }

  async acquireLock(key: string, token: string, ttlMs: number): Promise<'acquired' | 'busy'> {
    checkTtl(ttlMs);
    if (this.slot(key)) return 'busy';
    this.put(key, token, ttlMs);
    return 'acquired';
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    if (this.slot(key)?.value !== token) return false;
    return this.lru.delete(key);
  }

  async getHealth(): Promise<StoreHealth> {
    return {
      status: 'up',
      kind: this.kind,
      connected: true,
      latencyMs: 0,
      entries: this.lru.size,
      bytes: this.lru.calculatedSize,
    };
  }

  /** Always ready: the store lives in this process. */
  describe(): StoreDescription {
    return { kind: this.kind, mode: 'embedded', ready: true };
  }

  getStats(): StoreStats {
    return { ...this.stats };
  }

  errorCount(): number {
    return this.stats.errors;
  }
}
