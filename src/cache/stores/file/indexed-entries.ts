import * as path from 'node:path';
import { BackgroundTasks } from '../../util/background-tasks.js';
import type { Category, CategoryIndex, IndexEntry, Location } from './category-index.js';
import type { EntryFiles } from './entry-files.js';
import { ENTRY_SUFFIX, encodeFileRecord, type FileRecordRead } from './entry-format.js';
import type { FileStoreCounters } from './file-stats.js';
import { storedIsNewer, type WriteOutcome } from '../cache-store.js';
import { KeyChains } from './key-chains.js';

/** A decimal integer, as `increment` accepts it. */
const INTEGER = /^-?\d+$/;

/**
 * Entry files and their index entries kept in step. Every mutation of a key (store, renew,
 * increment, remove, the removal of an expired, corrupt or evicted file) runs on that key's chain,
 * so the index always agrees with the disk and `increment` is atomic within the process. Reads are
 * verified and settle what they find. Removals that nobody awaits are tracked for `drain`.
 */
export class IndexedEntries {
  private readonly chains = new KeyChains();
  /** Background work (evictions, removals of expired or corrupt files). */
  private readonly background = new BackgroundTasks();

  constructor(
    private readonly index: CategoryIndex,
    private readonly files: EntryFiles,
    private readonly counters: FileStoreCounters,
    private readonly now: () => number,
  ) {}

  /** The index entry of `loc` when unexpired; an expired one is dropped (and its file removed in the background). */
  live(loc: Location): IndexEntry | undefined {
    const entry = loc.category.index.get(loc.hash);
    if (!entry) return undefined;
    if (entry.expiresAt > this.now()) return entry;
    this.counters.expired++;
    this.drop(loc.category, loc.hash, entry);
    return undefined;
  }

  /** Reads and verifies the value of `entry`; any failure is settled (counted, dropped) and answers `undefined`. */
  async load(
    loc: Location,
    key: string,
    entry: IndexEntry,
  ): Promise<{ value: string; expiresAt: number } | undefined> {
    if (entry.expiresAt <= this.now()) {
      this.counters.expired++;
      this.drop(loc.category, loc.hash, entry);
      return undefined;
    }
    const read = await this.files.read(loc, key);
    if (read.kind === 'hit') return read;
    this.settleFailedRead(loc, entry, read);
    return undefined;
  }

  /** Index and disk follow-up of a read that found no usable value. */
  private settleFailedRead(loc: Location, entry: IndexEntry, read: FileRecordRead): void {
    const cat = loc.category;
    switch (read.kind) {
      case 'missing':
        // Removed behind our back (or by a concurrent delete): forget it.
        if (cat.index.get(loc.hash) === entry) this.index.unindex(cat, loc.hash);
        return;
      case 'expired':
        this.counters.expired++;
        this.drop(cat, loc.hash, entry);
        return;
      case 'corrupt':
        this.counters.countCorrupt(cat);
        this.drop(cat, loc.hash, entry);
        return;
      case 'error':
      case 'hit':
        return;
    }
  }

  /** Writes `body` (the record of `key`, expiring at `expiresAt` ms since the epoch) on the key's chain. `true` when stored. */
  store(loc: Location, key: string, body: Buffer, expiresAt: number): Promise<boolean> {
    return this.chains.run(loc.hash, () => this.write(loc, key, body, expiresAt));
  }

  /**
   * A monotonic `store` (see `CacheStore.set`): on the key's chain, reads the live value and keeps
   * it when it is an entry with an `asOf` larger than `asOf`; else writes `body`.
   */
  storeIfNewer(
    loc: Location,
    key: string,
    body: Buffer,
    expiresAt: number,
    asOf: number,
  ): Promise<WriteOutcome> {
    return this.chains.run(loc.hash, async () => {
      const entry = this.live(loc);
      const current = entry ? await this.load(loc, key, entry) : undefined;
      if (storedIsNewer(current?.value, asOf)) return 'kept-newer';
      return (await this.write(loc, key, body, expiresAt)) ? 'written' : 'failed';
    });
  }

  /** Rewrites the live entry of `key` with a TTL of `ttlMs` milliseconds, on the key's chain. `true` when it existed. */
  renew(loc: Location, key: string, ttlMs: number): Promise<boolean> {
    return this.chains.run(loc.hash, async () => {
      const entry = this.live(loc);
      const current = entry ? await this.load(loc, key, entry) : undefined;
      if (!current) return false;
      const expiresAt = this.now() + ttlMs;
      return this.write(loc, key, encodeFileRecord(key, current.value, expiresAt), expiresAt);
    });
  }

  /**
   * Adds `amount` to the integer stored for `key` (0 when missing, expired or corrupt) on the key's
   * chain; a new counter lives `ttlMs` milliseconds, an existing one keeps its expiry. With
   * `maxTtlMs`, a counter living longer than that is left alone (`laterWindow`). Answers the value
   * and the remaining TTL in ms, or `undefined` when the value is not an integer or the disk fails.
   */
  increment(
    loc: Location,
    key: string,
    ttlMs: number,
    amount = 1,
    maxTtlMs?: number,
  ): Promise<{ value: number; ttlMs: number; laterWindow?: true } | undefined> {
    return this.chains.run(loc.hash, async () => {
      // 1. The current count and expiry: 0 and a fresh TTL unless a live integer is stored.
      let current = 0;
      let expiresAt = this.now() + ttlMs;
      let existing = false;
      const entry = this.live(loc);
      if (entry) {
        const read = await this.files.read(loc, key);
        if (read.kind === 'error') return undefined;
        if (read.kind === 'hit') {
          if (!INTEGER.test(read.value) || !Number.isSafeInteger(Number(read.value))) {
            this.counters.fault('increment:not-integer', undefined, loc.category);
            return undefined;
          }
          current = Number(read.value);
          expiresAt = read.expiresAt;
          existing = true;
        } else {
          // Missing, expired or corrupt: the counter starts again (the bad file is replaced below).
          this.settleFailedRead(loc, entry, read);
        }
      }
      // 2. A counter of a later window (it outlives `maxTtlMs`) is left as it is.
      const remainingMs = Math.max(1, Math.ceil(expiresAt - this.now()));
      if (existing && maxTtlMs !== undefined && remainingMs > maxTtlMs)
        return { value: current, ttlMs: remainingMs, laterWindow: true };
      // 3. The new count, written in place of the old one.
      const value = current + amount;
      if (!Number.isSafeInteger(value)) {
        this.counters.fault('increment:overflow', undefined, loc.category);
        return undefined;
      }
      const body = encodeFileRecord(key, String(value), expiresAt);
      const ok = await this.write(loc, key, body, expiresAt);
      return ok ? { value, ttlMs: Math.max(1, Math.ceil(expiresAt - this.now())) } : undefined;
    });
  }

  /** Removes the entry of `loc` from the index and the disk, on the key's chain. `true` when a live entry was removed. */
  remove(loc: Location): Promise<boolean> {
    return this.chains.run(loc.hash, async () => {
      const cat = loc.category;
      const entry = cat.index.get(loc.hash);
      if (!entry) return false;
      this.index.unindex(cat, loc.hash);
      const live = entry.expiresAt > this.now();
      if (!live) this.counters.expired++;
      const removed = await this.files.unlink(loc.file, cat);
      return live && removed;
    });
  }

  /** Writes `body` atomically, then indexes it and applies the caps. Runs on the key's chain. */
  private async write(
    loc: Location,
    key: string,
    body: Buffer,
    expiresAt: number,
  ): Promise<boolean> {
    if (!(await this.files.write(loc, body))) return false;
    // The index follows the rename at once, so that it matches the disk; then the caps.
    const cat = loc.category;
    this.index.put(cat, loc.hash, { key, expiresAt, size: body.length, lastAccess: this.now() });
    this.enforceCaps(cat, loc.hash);
    return true;
  }

  /**
   * Evicts least recently used entries until `cat` is within its caps, then the least recently
   * used of any category until the store is within its total caps; never `keep` (of `cat`).
   */
  enforceCaps(cat: Category, keep: string | undefined): void {
    for (;;) {
      const hash = this.index.evictionCandidate(cat, keep);
      if (hash === undefined) break;
      this.evict(cat, hash);
    }
    for (;;) {
      const victim = this.index.totalEvictionCandidate(cat, keep);
      if (victim === undefined) return;
      this.evict(victim.cat, victim.hash);
    }
  }

  /** Takes `hash` out of the index and removes its file in the background, counting an eviction. */
  private evict(cat: Category, hash: string): void {
    this.index.unindex(cat, hash);
    this.counters.evictions++;
    this.background.track(this.removeIfUnindexed(cat, hash));
  }

  /**
   * Takes every entry expired at `nowMs` (ms since the epoch) out of the index at once and removes
   * the files on each key's chain. Answers how many; resolves once the files are gone.
   */
  async removeExpired(nowMs: number): Promise<number> {
    const removals: Promise<boolean>[] = [];
    for (const cat of this.index.all()) {
      for (const [hash, entry] of cat.index) {
        if (entry.expiresAt <= nowMs) {
          this.index.unindex(cat, hash);
          this.counters.expired++;
          removals.push(this.removeIfUnindexed(cat, hash));
        }
      }
    }
    await Promise.all(removals);
    return removals.length;
  }

  /** Resolves once every background removal, including those started meanwhile, has settled. */
  drain(): Promise<void> {
    return this.background.drain();
  }

  /** Drops `entry` from the index when it is still current, and removes its file in the background. */
  private drop(cat: Category, hash: string, entry: IndexEntry): void {
    if (cat.index.get(hash) === entry) this.index.unindex(cat, hash);
    this.background.track(this.removeIfUnindexed(cat, hash));
  }

  /**
   * Removes the file of `hash` on the key's chain, unless a write re-indexed the key meanwhile
   * (then the file on disk is that newer value). Callers never await another key's chain from
   * inside a chain, so chains cannot deadlock.
   */
  private removeIfUnindexed(cat: Category, hash: string): Promise<boolean> {
    return this.chains.run(hash, async () => {
      if (cat.index.has(hash)) return false;
      return this.files.unlink(path.join(cat.dir, hash + ENTRY_SUFFIX), cat);
    });
  }
}
