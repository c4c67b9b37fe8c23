import * as path from 'node:path';
import { globToRegExp } from '../../util/glob.js';
import { ENTRY_SUFFIX, hashKey } from './entry-format.js';
import type { FileStoreCategoryStats, FileStoreCounters } from './file-stats.js';
import type { ResolvedFileStoreOptions } from './file-store.options.js';

/** A category directory name, as `sanitizeCategory` makes them. */
export const CATEGORY_NAME = /^[a-z0-9_-]{1,64}$/;

/** One key in a category's in-memory index. */
export interface IndexEntry {
  key: string;
  /** ms since the epoch (store clock). */
  expiresAt: number;
  /** Bytes on disk, header included. */
  size: number;
  /** Last read or write, ms since the epoch (store clock). */
  lastAccess: number;
}

/** A category: its directory, its LRU index (Map order = least recently used first) and counters. */
export class Category {
  /** Entries by key hash. */
  readonly index = new Map<string, IndexEntry>();
  /** Bytes on disk of the indexed entries. */
  bytes = 0;
  hits = 0;
  misses = 0;
  errors = 0;
  /** True once the directory is known to exist. */
  dirReady = false;

  constructor(
    readonly name: string,
    readonly dir: string,
  ) {}
}

/** Where a key lives. */
export interface Location {
  category: Category;
  hash: string;
  /** Path of the entry file. */
  file: string;
}

/**
 * The in-memory index of every category, rebuilt at `connect` from the header lines only. It
 * answers `exists`/`ttl`/`keys` without I/O, keeps each category's LRU order and says which entry
 * the entry and byte caps evict next. It is authoritative: one process owns a directory.
 */
export class CategoryIndex {
  private readonly categories = new Map<string, Category>();
  private readonly directory: string;
  private readonly categoryOf: (key: string) => string;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  /** Caps over all categories (0 = none). */
  private readonly maxTotalEntries: number;
  private readonly maxTotalBytes: number;
  private totalEntries = 0;
  private totalBytes = 0;
  private readonly now: () => number;

  constructor(
    options: ResolvedFileStoreOptions,
    private readonly counters: FileStoreCounters,
  ) {
    this.directory = options.directory;
    this.categoryOf = options.categoryOf;
    this.maxEntries = options.maxEntriesPerCategory;
    this.maxBytes = options.maxBytesPerCategory;
    this.maxTotalEntries = options.maxEntries;
    this.maxTotalBytes = options.maxBytes;
    this.now = options.now;
  }

  /** The category, hash and entry file of `key`. */
  locate(key: string): Location {
    const category = this.category(this.categoryNameOf(key));
    const hash = hashKey(key);
    return { category, hash, file: path.join(category.dir, hash + ENTRY_SUFFIX) };
  }

  /** The sanitized category of `key`; `'default'` (and a counted error) when `categoryOf` throws. */
  categoryNameOf(key: string): string {
    try {
      return sanitizeCategory(this.categoryOf(key));
    } catch (err) {
      this.counters.fault('categoryOf', err);
      return 'default';
    }
  }

  /** The category called `name`, created (in memory) on first use. */
  category(name: string): Category {
    let cat = this.categories.get(name);
    if (!cat) {
      cat = new Category(name, path.join(this.directory, name));
      this.categories.set(name, cat);
    }
    return cat;
  }

  /** Every category seen since start. */
  all(): IterableIterator<Category> {
    return this.categories.values();
  }

  /** Inserts or replaces an index entry as the most recently used. */
  put(cat: Category, hash: string, entry: IndexEntry): void {
    this.unindex(cat, hash);
    cat.index.set(hash, entry);
    cat.bytes += entry.size;
    this.totalEntries++;
    this.totalBytes += entry.size;
  }

  /** Removes the entry of `hash` from the index (the file stays). */
  unindex(cat: Category, hash: string): void {
    const old = cat.index.get(hash);
    if (!old) return;
    cat.bytes -= old.size;
    cat.index.delete(hash);
    this.totalEntries--;
    this.totalBytes -= old.size;
  }

  /** Marks an entry as just used (moves it to the recent end of the LRU order). */
  touch(cat: Category, hash: string): void {
    const entry = cat.index.get(hash);
    if (!entry) return;
    entry.lastAccess = this.now();
    cat.index.delete(hash);
    cat.index.set(hash, entry);
  }

  /**
   * The least recently used entry of `cat` while the category is over its entry or byte cap, or
   * `undefined` when it is within them (or when that entry is `keep`, which is never evicted).
   */
  evictionCandidate(cat: Category, keep: string | undefined): string | undefined {
    if (cat.index.size <= this.maxEntries && cat.bytes <= this.maxBytes) return undefined;
    const oldest = cat.index.keys().next();
    return oldest.done || oldest.value === keep ? undefined : oldest.value;
  }

  /**
   * While the store is over a total cap (`maxEntries`, `maxBytes`): the least recently used entry
   * of any category (the oldest last access among the categories' LRU heads), unless it is `keep`
   * (the entry just written, in `keepCat`). `undefined` when within the caps.
   */
  totalEvictionCandidate(
    keepCat: Category | undefined,
    keep: string | undefined,
  ): { cat: Category; hash: string } | undefined {
    const overEntries = this.maxTotalEntries > 0 && this.totalEntries > this.maxTotalEntries;
    const overBytes = this.maxTotalBytes > 0 && this.totalBytes > this.maxTotalBytes;
    if (!overEntries && !overBytes) return undefined;
    let best: { cat: Category; hash: string; at: number } | undefined;
    for (const cat of this.categories.values()) {
      const head = cat.index.entries().next();
      if (head.done) continue;
      const [hash, entry] = head.value;
      if (!best || entry.lastAccess < best.at) best = { cat, hash, at: entry.lastAccess };
    }
    if (!best || (best.cat === keepCat && best.hash === keep)) return undefined;
    return { cat: best.cat, hash: best.hash };
  }

  /** Unexpired keys matching the glob `pattern`, at `nowMs` (ms since the epoch). */
  keys(pattern: string, nowMs: number): string[] {
    const re = globToRegExp(pattern);
    const out: string[] = [];
    for (const cat of this.categories.values()) {
      for (const entry of cat.index.values()) {
        if (entry.expiresAt > nowMs && re.test(entry.key)) out.push(entry.key);
      }
    }
    return out;
  }

  /** Indexed entries and their bytes on disk over all categories, and how many categories. */
  totals(): { entries: number; bytes: number; categories: number } {
    return {
      entries: this.totalEntries,
      bytes: this.totalBytes,
      categories: this.categories.size,
    };
  }

  /** Entries, bytes and counters of each category seen since start, by category name. */
  stats(): Record<string, FileStoreCategoryStats> {
    const out: Record<string, FileStoreCategoryStats> = {};
    for (const cat of this.categories.values()) {
      out[cat.name] = {
        entries: cat.index.size,
        bytes: cat.bytes,
        hits: cat.hits,
        misses: cat.misses,
        errors: cat.errors,
      };
    }
    return out;
  }
}

/** Lower-case `[a-z0-9_-]`, at most 64 characters, `'default'` when empty: always a safe directory name. */
function sanitizeCategory(name: string): string {
  const clean = String(name)
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '_')
    .slice(0, 64);
  return clean === '' ? 'default' : clean;
}
