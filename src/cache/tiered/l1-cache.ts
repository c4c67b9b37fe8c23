import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './cache-entry.js';
import { entityTagOf } from './invalidation-target.js';

/** Bounds of the L1 memory tier. */
export interface L1Options {
  /** Most entries. Default 10 000. */
  maxEntries: number;
  /** Most bytes (serialized size of the values). Default 64 MiB. */
  maxBytes: number;
  /** Largest single value kept in L1, in bytes; larger ones live in L2 only. Default 1 MiB. */
  maxItemBytes: number;
  /** Longest an entry is served from L1, in ms, whatever its L2 TTL. Default: as long as in L2. */
  maxTtlMs?: number;
}

/**
 * The in-process tier: lru-cache bounded by entry count and bytes, holding decoded, frozen
 * entries so a hit is one map lookup with no parsing or copying.
 *
 * Methods take stored keys (`{prefix}:…`); inside, entries are keyed without the prefix, so a
 * plain logical key can be looked up as it is (`getLogical`), with no string building per hit.
 */
export class L1Cache {
  private readonly lru: LRUCache<string, CacheEntry>;
  private readonly prefixLength: number;
  private readonly prefix: string;
  /** Logical keys held, by entity (`{type}:{entity}:…` → entity): targeted eviction at any size. */
  private readonly byEntity = new Map<string, Set<string>>();

  constructor(
    readonly options: L1Options,
    prefix: string,
  ) {
    this.prefixLength = prefix.length + 1;
    this.prefix = prefix + ':';
    this.lru = new LRUCache<string, CacheEntry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (entry, key) => entry.size + key.length + 64,
      // Every removal but an overwrite leaves the entity index (evictions by the bounds included).
      dispose: (_entry, key, reason) => {
        if (reason !== 'set') this.unindex(key);
      },
    });
  }

  /** The entry under a stored key (expired-but-kept entries included; the caller checks their timeline). */
  get(storageKey: string): CacheEntry | undefined {
    if (this.lru.size === 0) return undefined; // a cold or disabled L1 costs no key slice nor lookup
    return this.lru.get(storageKey.slice(this.prefixLength));
  }

  /** The entry of a logical key outside any namespace: the hot path, no string building. */
  getLogical(logicalKey: string): CacheEntry | undefined {
    return this.lru.size === 0 ? undefined : this.lru.get(logicalKey);
  }

  /**
   * Keeps `entry`; refuses values over `maxItemBytes`. No lru-cache TTL: every entry carries its
   * own timeline, which readers check (a hit costs no clock read inside lru-cache); entries past
   * `keepUntil` are dropped when read, or evicted by the entry/byte bounds. With `maxTtlMs`, the
   * entry's timeline in L1 is cut to it, so the next read after it goes to L2. Monotonic: an entry
   * with a larger `asOf` is never replaced (it stays; `false`); an equal one is.
   */
  set(storageKey: string, entry: CacheEntry, now = Date.now()): boolean {
    const key = storageKey.slice(this.prefixLength);
    const current = this.lru.size === 0 ? undefined : this.lru.peek(key);
    if (current !== undefined && current.asOf > entry.asOf) return false;
    if (entry.size > this.options.maxItemBytes || entry.keepUntil <= now) {
      // A refused value never leaves an older one readable (nothing to drop in an empty L1).
      if (current !== undefined) this.lru.delete(key);
      return false;
    }
    const cap = this.options.maxTtlMs === undefined ? Infinity : now + this.options.maxTtlMs;
    const kept =
      cap < entry.keepUntil
        ? {
            ...entry,
            staleAt: Math.min(entry.staleAt, cap),
            expiresAt: Math.min(entry.expiresAt, cap),
            keepUntil: cap,
          }
        : entry;
    if (!this.lru.has(key)) this.index(key);
    this.lru.set(key, kept);
    if (!this.lru.has(key)) this.unindex(key); // refused by the byte bound
    return true;
  }

  /** Whether a value of `size` (serialized, as `CacheEntry.size`) is small enough to be kept. */
  fits(size: number): boolean {
    return size <= this.options.maxItemBytes;
  }

  /** Drops the entry under a stored key, if any. */
  delete(storageKey: string): void {
    if (this.lru.size > 0) this.lru.delete(storageKey.slice(this.prefixLength));
  }

  /**
   * Drops the entry under a stored key when it is older than `asOf` (epoch ms), or as old with
   * `orEqual`; a newer one stays. Answers whether one was dropped.
   */
  evictOlder(storageKey: string, asOf: number, orEqual = false): boolean {
    if (this.lru.size === 0) return false;
    const key = storageKey.slice(this.prefixLength);
    const current = this.lru.peek(key);
    if (current === undefined || current.asOf > asOf || (current.asOf === asOf && !orEqual))
      return false;
    return this.lru.delete(key);
  }

  /** Drops every entry. */
  clear(): void {
    this.byEntity.clear();
    this.lru.clear();
  }

  /**
   * Drops the entries of one entity (the escaped second segment of `{type}:{entity}:…`), of one
   * key type when given, through the entity index: cost in the entity's own entries, never the
   * whole L1. Answers how many were dropped.
   */
  deleteEntity(entity: string, type?: string): number {
    const keys = this.byEntity.get(entity);
    if (!keys) return 0;
    let dropped = 0;
    for (const key of [...keys]) {
      if (type !== undefined && !key.startsWith(type + ':')) continue;
      if (this.lru.delete(key)) dropped++;
    }
    return dropped;
  }

  /** Drops the entries whose stored key `test` accepts (a full scan of L1: for pattern flushes). Answers how many. */
  deleteWhere(test: (storageKey: string) => boolean): number {
    const doomed: string[] = [];
    for (const key of this.lru.keys()) if (test(this.prefix + key)) doomed.push(key);
    for (const key of doomed) this.lru.delete(key);
    return doomed.length;
  }

  /** Entries held for one entity (of one key type when given). */
  countEntity(entity: string, type?: string): number {
    const keys = this.byEntity.get(entity);
    if (!keys || type === undefined) return keys?.size ?? 0;
    let n = 0;
    for (const key of keys) if (key.startsWith(type + ':')) n++;
    return n;
  }

  private index(key: string): void {
    const entity = entityTagOf(key);
    if (entity === undefined) return;
    const keys = this.byEntity.get(entity);
    if (keys) keys.add(key);
    else this.byEntity.set(entity, new Set([key]));
  }

  private unindex(key: string): void {
    const entity = entityTagOf(key);
    if (entity === undefined) return;
    const keys = this.byEntity.get(entity);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) this.byEntity.delete(entity);
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
