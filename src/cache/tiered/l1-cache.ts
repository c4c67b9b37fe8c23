import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './cache-entry.js';

/** Bounds of the L1 memory tier. */
export interface L1Options {
  /** Most entries. Default 10 000. */
  maxEntries: number;
  /** Most bytes (serialized size of the values). Default 64 MiB. */
  maxBytes: number;
  /** Largest single value kept in L1, in bytes; larger ones live in L2 only. Default 1 MiB. */
  maxItemBytes: number;
  /** Longest an entry stays in L1, in ms, whatever its L2 TTL. Default: as long as in L2. */
  maxTtlMs?: number;
}

/**
 * The in-process tier: lru-cache bounded by entry count and bytes, holding decoded, frozen
 * entries so a hit is one map lookup with no parsing or copying.
 */
export class L1Cache {
  private readonly lru: LRUCache<string, CacheEntry>;

  constructor(readonly options: L1Options) {
    this.lru = new LRUCache<string, CacheEntry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (entry, key) => entry.size + key.length + 64,
      ttlAutopurge: false,
    });
  }

  /** The entry under `key` (expired-but-kept entries included; the caller checks their timeline). */
  get(key: string): CacheEntry | undefined {
    return this.lru.get(key);
  }

  /** Keeps `entry` until its `keepUntil` (capped by `maxTtlMs`); refuses values over `maxItemBytes`. */
  set(key: string, entry: CacheEntry, now = Date.now()): boolean {
    if (entry.size > this.options.maxItemBytes) {
      this.lru.delete(key);
      return false;
    }
    const ttl = Math.min(entry.keepUntil - now, this.options.maxTtlMs ?? Infinity);
    if (ttl <= 0) return false;
    this.lru.set(key, entry, { ttl: Math.ceil(ttl) });
    return true;
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  clear(): void {
    this.lru.clear();
  }

  /** Entries held now. */
  get size(): number {
    return this.lru.size;
  }

  /** Bytes held now (serialized sizes plus per-entry overhead). */
  get bytes(): number {
    return this.lru.calculatedSize;
  }
}
