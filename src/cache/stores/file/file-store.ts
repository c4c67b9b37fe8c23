import { BackgroundTasks } from '../../util/background-tasks.js';
import { createHash, randomBytes } from 'node:crypto';
import { promises as nodeFs } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Logger } from '@nestjs/common';
import { CacheValidationError } from '../../errors/cache-errors.js';
import { globToRegExp } from '../../util/glob.js';
import { RateLimitedLogger } from '../../util/rate-limited-logger.js';
import type {
  CacheStore,
  StoreDescription,
  StoreEntry,
  StoreHealth,
  StoreStats,
} from '../cache-store.js';
import { IoLimiter } from './io-limiter.js';
import { assertTtlMs as checkTtl } from '../../util/arguments.js';

/** The part of an open file handle `FileStore` uses (a subset of `fs.promises.FileHandle`). */
export interface FileStoreFileHandle {
  /** Reads up to `length` bytes at file `position` into `buffer` at `offset`. */
  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  /** Size in bytes and modification time (ms since the epoch) of the open file. */
  stat(): Promise<{ size: number; mtimeMs: number }>;
  close(): Promise<void>;
}

/**
 * The part of `fs.promises` `FileStore` uses; `fs.promises` itself satisfies it. Injectable so
 * that tests can simulate ENOSPC, EROFS, EIO and the like.
 */
export interface FileStoreFs {
  open(file: string, flags: string): Promise<FileStoreFileHandle>;
  readFile(file: string): Promise<Buffer>;
  writeFile(file: string, data: Uint8Array, options: { flag: string }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  stat(file: string): Promise<{ size: number; mtimeMs: number }>;
  mkdir(dir: string, options: { recursive: true }): Promise<string | undefined>;
}

/** Options of `FileStore`. */
export interface FileStoreOptions {
  /** Root directory of the cache (`CACHE_FILE_DIR`); created when missing. One process owns it. */
  directory: string;
  /** File operations allowed in flight at once. Default 16. */
  maxConcurrentIo?: number;
  /** Entries kept per category before the least recently used are evicted. Default 10,000. */
  maxEntriesPerCategory?: number;
  /** Bytes on disk (header + value) kept per category before LRU eviction. Default 256 MiB. */
  maxBytesPerCategory?: number;
  /** Period of the background sweep (expired entries, orphaned temp files), in milliseconds. Default 60,000; 0 = off. */
  cleanupIntervalMs?: number;
  /**
   * Category (sub-directory, and unit of the caps) of a key. Default: the second `:` segment of
   * `prefix:type:…` keys, else `'default'`. The result is sanitized to `[a-z0-9_-]` (at most 64
   * characters); a throw counts an error and means `'default'`.
   */
  categoryOf?: (key: string) => string;
  /** File system to use. Default `fs.promises`. */
  fs?: FileStoreFs;
  /** Clock for expiry, in milliseconds since the epoch. Default `Date.now` (tests inject one). */
  now?: () => number;
}

/** Counters of a `FileStore` since start. */
export interface FileStoreStats extends StoreStats {
  /** Entries found truncated or corrupt (each also counted in `errors`, and as a miss when read by `get`). */
  corrupt: number;
  /** Expired entries removed (on read, at `connect`, or by a sweep). */
  expired: number;
  /** Entries evicted by the per-category caps. */
  evictions: number;
}

/** Per-category figures of `FileStore.getCategoryStats`. */
export interface FileStoreCategoryStats {
  /** Entries in the index. */
  entries: number;
  /** Bytes on disk of those entries (headers included). */
  bytes: number;
  hits: number;
  misses: number;
  errors: number;
}

/** What one `FileStore.sweep` removed. */
export interface FileStoreSweepResult {
  /** Expired entries removed. */
  expired: number;
  /** Orphaned temporary files removed. */
  orphans: number;
}

const DEFAULT_MAX_CONCURRENT_IO = 16;
const DEFAULT_MAX_ENTRIES_PER_CATEGORY = 10_000;
const DEFAULT_MAX_BYTES_PER_CATEGORY = 256 * 1024 * 1024;
const DEFAULT_CLEANUP_INTERVAL_MS = 60_000;
/** Longest period `setInterval` accepts, in milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ENTRY_SUFFIX = '.entry';
const TMP_SUFFIX = '.tmp';
const ENTRY_NAME = /^[0-9a-f]{64}\.entry$/;
/** First read of a header at start-up, in bytes; most headers fit. */
const HEADER_PROBE_BYTES = 4096;
/** Longest header line accepted, in bytes (bounds the key length). */
const MAX_HEADER_BYTES = 64 * 1024;
/** A temp file older than this (ms, wall clock against its mtime) belongs to no live write. */
const ORPHAN_TMP_AGE_MS = 60_000;
/** The writability probe of `getHealth` runs at most once per this many milliseconds. */
const HEALTH_PROBE_INTERVAL_MS = 5_000;
/** Deletes run in batches of this many by `flushPattern`. */
const FLUSH_BATCH = 256;
const CATEGORY_NAME = /^[a-z0-9_-]{1,64}$/;
const INTEGER = /^-?\d+$/;
const HEADER_VERSION = 1;
const NEWLINE = 0x0a;

/** The first line of an entry file. */
interface EntryHeader {
  v: number;
  /** The key. */
  k: string;
  /** Expiry, ms since the epoch. */
  e: number;
  /** Value length in bytes. */
  n: number;
}

/** One key in a category's in-memory index. */
interface IndexEntry {
  key: string;
  /** ms since the epoch (store clock). */
  expiresAt: number;
  /** Bytes on disk, header included. */
  size: number;
  /** Last read or write, ms since the epoch (store clock). */
  lastAccess: number;
}

/** A category: its directory, its LRU index (Map order = least recently used first) and counters. */
class Category {
  readonly index = new Map<string, IndexEntry>();
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
interface Location {
  category: Category;
  hash: string;
  file: string;
}

type ReadResult =
  | { kind: 'hit'; value: string; expiresAt: number }
  | { kind: 'missing' }
  | { kind: 'expired' }
  | { kind: 'corrupt' }
  | { kind: 'error' };

/**
 * Persistent L2 cache tier for single-box deployments: one file per key under
 * `<directory>/<category>/<sha256(key)>.entry`.
 *
 * - A file is a JSON header line `{"v":1,"k":key,"e":expiresAtMs,"n":valueBytes}`, `\n`, then the
 *   value (UTF-8). Reads verify the header, the key and the length; a truncated or corrupt file is
 *   a counted miss and is removed.
 * - Writes go to `<hash>.<random>.tmp` in the same directory, then `rename` over the entry
 *   (atomic: a reader sees the old or the new value, never a mix). No fsync: after a power loss a
 *   file may be short, which the length check turns into a miss.
 * - An in-memory index per category (rebuilt at `connect` from the header lines only) answers
 *   `exists`/`ttl`/`keys` without I/O and enforces entry and byte caps by LRU eviction. The index
 *   is authoritative: one process owns a directory.
 * - Mutations of one key (set, delete, expire, increment, eviction) are serialized per key in the
 *   process, so the index always agrees with the disk; `increment` is therefore atomic.
 * - All I/O is asynchronous, at most `maxConcurrentIo` operations at once. Faults never throw:
 *   they are counted (`errors`), logged at most once per 10 s per kind (never keys or values),
 *   and answered as a miss / `false` / `undefined`. Only bad arguments throw `CacheValidationError`.
 * - Locks (`acquireLock`) live in process memory, which is enough for a single box.
 */
export class FileStore implements CacheStore {
  /** Driver kind. */
  readonly kind = 'file' as const;

  private readonly directory: string;
  private readonly fs: FileStoreFs;
  private readonly now: () => number;
  private readonly categoryOf: (key: string) => string;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly cleanupIntervalMs: number;
  private readonly limiter: IoLimiter;
  /** At most one line per error kind per 10 s. */
  private readonly log = new RateLimitedLogger(new Logger(FileStore.name));

  private readonly categories = new Map<string, Category>();
  /** Tail of each key's mutation chain, by key hash. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Background work (evictions, removals of expired or corrupt files) that `disconnect` awaits. */
  private readonly background = new BackgroundTasks();
  private readonly locks = new Map<string, { token: string; expiresAt: number }>();

  private connected = false;
  /** True once the index has been loaded from disk. */
  private indexLoaded = false;
  /** True once `connect` ran (a sweep then retries a failed start-up). */
  private connectAttempted = false;
  private connecting: Promise<void> | undefined;
  private sweeping: Promise<FileStoreSweepResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private probe: { at: number; ok: boolean; latencyMs: number; reason?: string } | undefined;
  private probing: Promise<void> | undefined;

  private hits = 0;
  private misses = 0;
  private errors = 0;
  private corrupt = 0;
  private expired = 0;
  private evictions = 0;

  /** @throws CacheValidationError naming the first invalid option. */
  constructor(options: FileStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new CacheValidationError('options', 'FileStore options must be an object');
    }
    const { directory } = options;
    if (typeof directory !== 'string' || directory.trim() === '' || directory.includes('\0')) {
      throw new CacheValidationError(
        'directory',
        'directory (CACHE_FILE_DIR) must be a non-empty path',
      );
    }
    this.directory = path.resolve(directory);
    const maxConcurrentIo = positiveInteger(
      'maxConcurrentIo',
      options.maxConcurrentIo,
      DEFAULT_MAX_CONCURRENT_IO,
    );
    this.maxEntries = positiveInteger(
      'maxEntriesPerCategory',
      options.maxEntriesPerCategory,
      DEFAULT_MAX_ENTRIES_PER_CATEGORY,
    );
    this.maxBytes = positiveInteger(
      'maxBytesPerCategory',
      options.maxBytesPerCategory,
      DEFAULT_MAX_BYTES_PER_CATEGORY,
    );
    const interval = options.cleanupIntervalMs ?? DEFAULT_CLEANUP_INTERVAL_MS;
    if (!Number.isInteger(interval) || interval < 0 || interval > MAX_TIMER_MS) {
      throw new CacheValidationError(
        'cleanupIntervalMs',
        `cleanupIntervalMs must be an integer from 0 (off) to ${MAX_TIMER_MS} ms (got ${String(interval)})`,
      );
    }
    this.cleanupIntervalMs = interval;
    if (options.categoryOf !== undefined && typeof options.categoryOf !== 'function') {
      throw new CacheValidationError(
        'categoryOf',
        'categoryOf must be a function (key) => category',
      );
    }
    this.categoryOf = options.categoryOf ?? defaultCategoryOf;
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new CacheValidationError('now', 'now must be a function answering ms since the epoch');
    }
    this.now = options.now ?? Date.now;
    if (options.fs !== undefined) {
      const methods = [
        'open',
        'readFile',
        'writeFile',
        'rename',
        'unlink',
        'readdir',
        'stat',
        'mkdir',
      ] as const;
      const missing = methods.filter((m) => typeof options.fs?.[m] !== 'function');
      if (options.fs === null || typeof options.fs !== 'object' || missing.length > 0) {
        throw new CacheValidationError(
          'fs',
          `fs must provide ${methods.join(', ')} (missing: ${missing.join(', ')})`,
        );
      }
    }
    this.fs = options.fs ?? nodeFs;
    this.limiter = new IoLimiter(maxConcurrentIo);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Creates the directory, removes every temp file, rebuilds the index from the header lines
   * (removing expired and corrupt files) and starts the sweep timer. Resolves even when the
   * directory is unusable (health then reports `down`; writes retry on their own).
   */
  connect(): Promise<void> {
    if (!this.connecting) {
      this.connecting = this.open(true).finally(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  /** Stops the sweep timer and waits for the sweep and background removals in flight. */
  async disconnect(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.connecting) await this.connecting;
    if (this.sweeping) await this.sweeping;
    await this.drain();
    this.connected = false;
  }

  // ---------------------------------------------------------------- reads

  /** The value of `key`, or `undefined` (missing, expired, corrupt or unreadable). */
  async get(key: string): Promise<string | undefined> {
    await this.ready();
    const loc = this.locate(key);
    const cat = loc.category;
    const entry = cat.index.get(loc.hash);
    const value = entry ? await this.load(loc, key, entry) : undefined;
    if (value === undefined) {
      this.misses++;
      cat.misses++;
      return undefined;
    }
    this.hits++;
    cat.hits++;
    this.touch(cat, loc.hash);
    return value.value;
  }

  /** True when `key` is stored and not expired (answered from the index, no I/O). */
  async exists(key: string): Promise<boolean> {
    await this.ready();
    return this.liveEntry(this.locate(key)) !== undefined;
  }

  /** Remaining time to live of `key` in ms (rounded up), or -2 when missing. Never -1: every key has a TTL. */
  async ttl(key: string): Promise<number> {
    await this.ready();
    const entry = this.liveEntry(this.locate(key));
    return entry ? Math.max(1, Math.ceil(entry.expiresAt - this.now())) : -2;
  }

  /** Stored, unexpired keys matching the glob `pattern` (`*`, `?`, `[a-z]`, `[^…]`, `\` escapes), from the index. */
  async keys(pattern: string): Promise<string[]> {
    await this.ready();
    const re = globToRegExp(pattern);
    const now = this.now();
    const out: string[] = [];
    for (const cat of this.categories.values()) {
      for (const entry of cat.index.values()) {
        if (entry.expiresAt > now && re.test(entry.key)) out.push(entry.key);
      }
    }
    return out;
  }

  /** Values of `keys` in order (`undefined` for misses); reads run concurrently under the I/O limit. */
  pipelineGet(keys: readonly string[]): Promise<(string | undefined)[]> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  // ---------------------------------------------------------------- writes

  /**
   * Stores `value` under `key` for `ttlMs` milliseconds (atomic replace). `false` when it could not
   * be written (disk full, read-only, permissions) or is larger than `maxBytesPerCategory`.
   * @throws CacheValidationError for a non-positive or non-finite `ttlMs`, or a key too long for a header.
   */
  async set(key: string, value: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    await this.ready();
    const loc = this.locate(key);
    const expiresAt = this.now() + ttlMs;
    const body = encodeEntry(key, value, expiresAt);
    if (body.length > this.maxBytes) {
      this.fault('set:too-large', undefined, loc.category);
      return false;
    }
    return this.serialize(loc.hash, () => this.write(loc, key, body, expiresAt));
  }

  /**
   * Stores every entry (concurrently, under the I/O limit). `false` when any could not be stored.
   * @throws CacheValidationError before writing anything when any `ttlMs` is invalid.
   */
  async pipelineSet(entries: readonly StoreEntry[]): Promise<boolean> {
    for (const e of entries) checkTtl(e.ttlMs);
    const results = await Promise.all(entries.map((e) => this.set(e.key, e.value, e.ttlMs)));
    return results.every(Boolean);
  }

  /**
   * Removes `key`. `true` when a live key was removed. When the file cannot be unlinked (read-only
   * file system) the key is still dropped from the index, so it is not served, and `false` is answered.
   */
  async delete(key: string): Promise<boolean> {
    await this.ready();
    const loc = this.locate(key);
    return this.serialize(loc.hash, async () => {
      const cat = loc.category;
      const entry = cat.index.get(loc.hash);
      if (!entry) return false;
      this.unindex(cat, loc.hash);
      const live = entry.expiresAt > this.now();
      if (!live) this.expired++;
      const removed = await this.unlinkFile(loc.file, cat);
      return live && removed;
    });
  }

  /**
   * Gives an existing key a new TTL of `ttlMs` milliseconds (rewrites its header). `true` when the key existed.
   * @throws CacheValidationError for a non-positive or non-finite `ttlMs`.
   */
  async expire(key: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    await this.ready();
    const loc = this.locate(key);
    return this.serialize(loc.hash, async () => {
      const entry = this.liveEntry(loc);
      const current = entry ? await this.load(loc, key, entry) : undefined;
      if (!current) return false;
      const expiresAt = this.now() + ttlMs;
      return this.write(loc, key, encodeEntry(key, current.value, expiresAt), expiresAt);
    });
  }

  /**
   * Removes every stored key matching the glob `pattern` and accepted by `filter`, in batches of
   * 256 deletes. Answers how many keys were removed.
   */
  async flushPattern(pattern: string, filter?: (key: string) => boolean): Promise<number> {
    const matched = (await this.keys(pattern)).filter((k) => !filter || filter(k));
    let removed = 0;
    for (let i = 0; i < matched.length; i += FLUSH_BATCH) {
      const batch = await Promise.all(matched.slice(i, i + FLUSH_BATCH).map((k) => this.delete(k)));
      removed += batch.filter(Boolean).length;
    }
    return removed;
  }

  /**
   * Adds 1 to the decimal integer at `key` (0 when missing), atomically within the process. A new
   * counter lives `ttlMs` milliseconds; an existing one keeps its expiry. Answers the new value and
   * the remaining TTL in ms, or `undefined` when the value is not an integer or the disk fails.
   * @throws CacheValidationError for a non-positive or non-finite `ttlMs`.
   */
  async increment(
    key: string,
    ttlMs: number,
  ): Promise<{ value: number; ttlMs: number } | undefined> {
    checkTtl(ttlMs);
    await this.ready();
    const loc = this.locate(key);
    return this.serialize(loc.hash, async () => {
      const now = this.now();
      let current = 0;
      let expiresAt = now + ttlMs;
      const entry = this.liveEntry(loc);
      if (entry) {
        const read = await this.read(loc, key);
        if (read.kind === 'error') return undefined;
        if (read.kind === 'hit') {
          if (!INTEGER.test(read.value) || !Number.isSafeInteger(Number(read.value))) {
            this.fault('increment:not-integer', undefined, loc.category);
            return undefined;
          }
          current = Number(read.value);
          expiresAt = read.expiresAt;
        } else {
          // Missing, expired or corrupt: the counter starts again (the bad file is replaced below).
          this.settleFailedRead(loc, entry, read);
        }
      }
      const value = current + 1;
      if (!Number.isSafeInteger(value)) {
        this.fault('increment:overflow', undefined, loc.category);
        return undefined;
      }
      const ok = await this.write(loc, key, encodeEntry(key, String(value), expiresAt), expiresAt);
      return ok ? { value, ttlMs: Math.max(1, Math.ceil(expiresAt - this.now())) } : undefined;
    });
  }

  // ---------------------------------------------------------------- locks

  /**
   * Takes the in-process lock `key` with `token` for `ttlMs` milliseconds: 'acquired', or 'busy'
   * while another unexpired token holds it. Never 'unavailable' (no I/O involved).
   * @throws CacheValidationError for a non-positive or non-finite `ttlMs`.
   */
  async acquireLock(
    key: string,
    token: string,
    ttlMs: number,
  ): Promise<'acquired' | 'busy' | 'unavailable'> {
    checkTtl(ttlMs);
    const now = this.now();
    const held = this.locks.get(key);
    if (held && held.expiresAt > now) return 'busy';
    this.locks.set(key, { token, expiresAt: now + ttlMs });
    return 'acquired';
  }

  /** Releases the lock `key` when it is still held by `token`. `true` when released. */
  async releaseLock(key: string, token: string): Promise<boolean> {
    const held = this.locks.get(key);
    if (!held) return false;
    if (held.expiresAt <= this.now()) {
      this.locks.delete(key);
      return false;
    }
    if (held.token !== token) return false;
    this.locks.delete(key);
    return true;
  }

  // ---------------------------------------------------------------- health and statistics

  /**
   * `up` when the directory is writable (a tiny probe file is written and removed, at most once
   * per 5 s), with the number of entries and bytes held. Never throws.
   */
  async getHealth(): Promise<StoreHealth> {
    const t = this.now();
    if (!this.probe || t - this.probe.at >= HEALTH_PROBE_INTERVAL_MS) {
      this.probing ??= this.runProbe().finally(() => {
        this.probing = undefined;
      });
      await this.probing;
    }
    const probe = this.probe ?? { ok: false, latencyMs: 0, reason: 'not probed' };
    let entries = 0;
    let bytes = 0;
    for (const cat of this.categories.values()) {
      entries += cat.index.size;
      bytes += cat.bytes;
    }
    const health: StoreHealth = {
      status: probe.ok ? 'up' : 'down',
      kind: this.kind,
      connected: this.connected,
      latencyMs: probe.latencyMs,
      entries,
      bytes,
      categories: this.categories.size,
    };
    if (probe.reason !== undefined) health.reason = probe.reason;
    return health;
  }

  /** Ready once connected and the last directory probe (if any) succeeded; from memory. */
  describe(): StoreDescription {
    return { kind: this.kind, mode: 'embedded', ready: this.connected && this.probe?.ok !== false };
  }

  /** Counters since start: hits, misses, errors (corrupt files included), corrupt, expired, evictions. */
  getStats(): FileStoreStats {
    return {
      hits: this.hits,
      misses: this.misses,
      errors: this.errors,
      corrupt: this.corrupt,
      expired: this.expired,
      evictions: this.evictions,
    };
  }

  /** Entries, bytes and counters of each category seen since start, by category name. */
  getCategoryStats(): Record<string, FileStoreCategoryStats> {
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

  // ---------------------------------------------------------------- cleanup

  /**
   * Removes expired entries, expired locks and temp files older than 60 s (wall clock against
   * their mtime). One sweep runs at a time: a call during a sweep answers that sweep's result.
   * Never rejects.
   */
  sweep(): Promise<FileStoreSweepResult> {
    if (!this.sweeping) {
      this.sweeping = this.runSweep().finally(() => {
        this.sweeping = undefined;
      });
    }
    return this.sweeping;
  }

  private async runSweep(): Promise<FileStoreSweepResult> {
    await this.ready();
    // 1. A directory that was unusable at connect may have come back: load what it holds
    //    (keeping temp files, which may belong to writes in flight).
    if (!this.indexLoaded && this.connectAttempted) await this.open(false);
    const now = this.now();
    // 2. Expired entries: out of the index at once, files removed on each key's chain.
    const removals: Promise<boolean>[] = [];
    for (const cat of this.categories.values()) {
      for (const [hash, entry] of cat.index) {
        if (entry.expiresAt <= now) {
          this.unindex(cat, hash);
          this.expired++;
          removals.push(this.removeIfUnindexed(cat, hash));
        }
      }
    }
    for (const [key, lock] of this.locks) {
      if (lock.expiresAt <= now) this.locks.delete(key);
    }
    await Promise.all(removals);
    // 3. Orphaned temp files, in the root (health probes) and in every category directory.
    let orphans = await this.removeTmpFiles(this.directory, false);
    for (const name of await this.listDir(this.directory)) {
      if (CATEGORY_NAME.test(name))
        orphans += await this.removeTmpFiles(path.join(this.directory, name), false);
    }
    return { expired: removals.length, orphans };
  }

  // ---------------------------------------------------------------- internals: start-up

  /** Creates the directory, loads the index and starts the timer (see `connect`); `fresh` also removes every temp file. */
  private async open(fresh: boolean): Promise<void> {
    this.connectAttempted = true;
    try {
      await this.io(() => this.fs.mkdir(this.directory, { recursive: true }));
    } catch (err) {
      this.fault('connect', err);
      this.startTimer();
      return;
    }
    try {
      // Temp files in the root are leftover health probes.
      if (fresh) await this.removeTmpFiles(this.directory, true);
      const names = await this.listDir(this.directory);
      await Promise.all(
        names.filter((n) => CATEGORY_NAME.test(n)).map((n) => this.loadCategory(n, fresh)),
      );
    } catch (err) {
      // Every I/O fault is handled per file; this only catches the unexpected, so start anyway.
      this.fault('load', err);
    }
    this.indexLoaded = true;
    this.connected = true;
    this.startTimer();
  }

  /** Loads one category directory into the index: headers read, expired and corrupt files (and, when `fresh`, every temp file) removed. */
  private async loadCategory(name: string, fresh: boolean): Promise<void> {
    const cat = this.category(name);
    let files: string[];
    try {
      files = await this.io(() => this.fs.readdir(cat.dir));
    } catch (err) {
      // A plain file with a category-like name is not ours: leave it alone.
      if (errorCode(err) !== 'ENOTDIR' && errorCode(err) !== 'ENOENT') this.fault('load', err, cat);
      return;
    }
    cat.dirReady = true;
    const now = this.now();
    const found: { hash: string; entry: IndexEntry; mtimeMs: number }[] = [];
    await Promise.all(
      files.map(async (file) => {
        const full = path.join(cat.dir, file);
        if (file.endsWith(TMP_SUFFIX)) {
          if (fresh) await this.unlinkFile(full, cat);
          return;
        }
        if (!ENTRY_NAME.test(file)) return;
        const hash = file.slice(0, -ENTRY_SUFFIX.length);
        const head = await this.readHeader(full, cat);
        if (head === 'error') return;
        if (head === 'corrupt' || hashKey(head.header.k) !== hash) {
          this.countCorrupt(cat);
          await this.unlinkFile(full, cat);
          return;
        }
        if (head.header.e <= now) {
          this.expired++;
          await this.unlinkFile(full, cat);
          return;
        }
        if (this.categoryNameOf(head.header.k) !== name) {
          // Written under another `categoryOf`: unreachable from here, so it goes.
          await this.unlinkFile(full, cat);
          return;
        }
        found.push({
          hash,
          mtimeMs: head.mtimeMs,
          entry: {
            key: head.header.k,
            expiresAt: head.header.e,
            size: head.size,
            lastAccess: head.mtimeMs,
          },
        });
      }),
    );
    // Oldest write first, so that LRU order survives a restart as well as it can.
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const f of found) {
      if (!cat.index.has(f.hash)) this.indexPut(cat, f.hash, f.entry);
    }
    this.enforceCaps(cat, undefined);
  }

  /** Reads only the header line of an entry file through a file handle, plus its size and mtime. */
  private async readHeader(
    file: string,
    cat: Category,
  ): Promise<{ header: EntryHeader; size: number; mtimeMs: number } | 'corrupt' | 'error'> {
    try {
      return await this.io(async () => {
        const handle = await this.fs.open(file, 'r');
        try {
          const { size, mtimeMs } = await handle.stat();
          let buf = Buffer.alloc(Math.min(HEADER_PROBE_BYTES, Math.max(size, 1)));
          let filled = 0;
          for (;;) {
            const { bytesRead } = await handle.read(buf, filled, buf.length - filled, filled);
            const nl = buf.indexOf(NEWLINE, filled);
            filled += bytesRead;
            if (nl >= 0 && nl < filled) {
              const header = parseHeader(buf.subarray(0, nl));
              return header && nl + 1 + header.n === size ? { header, size, mtimeMs } : 'corrupt';
            }
            if (bytesRead === 0 || filled >= MAX_HEADER_BYTES) return 'corrupt';
            if (filled === buf.length) {
              const bigger = Buffer.alloc(Math.min(buf.length * 4, MAX_HEADER_BYTES));
              buf.copy(bigger, 0, 0, filled);
              buf = bigger;
            }
          }
        } finally {
          await handle.close();
        }
      });
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return 'error';
      this.fault('load', err, cat);
      return 'error';
    }
  }

  private startTimer(): void {
    if (this.cleanupIntervalMs === 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.fault('sweep', err));
    }, this.cleanupIntervalMs);
    this.timer.unref();
  }

  // ---------------------------------------------------------------- internals: entries

  /** Waits for a `connect` in progress, so that no call races the index rebuild. */
  private async ready(): Promise<void> {
    if (this.connecting) await this.connecting;
  }

  private locate(key: string): Location {
    const category = this.category(this.categoryNameOf(key));
    const hash = hashKey(key);
    return { category, hash, file: path.join(category.dir, hash + ENTRY_SUFFIX) };
  }

  /** The sanitized category of `key`; `'default'` (and a counted error) when `categoryOf` throws. */
  private categoryNameOf(key: string): string {
    try {
      return sanitizeCategory(this.categoryOf(key));
    } catch (err) {
      this.fault('categoryOf', err);
      return 'default';
    }
  }

  private category(name: string): Category {
    let cat = this.categories.get(name);
    if (!cat) {
      cat = new Category(name, path.join(this.directory, name));
      this.categories.set(name, cat);
    }
    return cat;
  }

  /** The index entry of `loc` when unexpired; an expired one is dropped (and its file removed in the background). */
  private liveEntry(loc: Location): IndexEntry | undefined {
    const entry = loc.category.index.get(loc.hash);
    if (!entry) return undefined;
    if (entry.expiresAt > this.now()) return entry;
    this.expired++;
    this.drop(loc.category, loc.hash, entry);
    return undefined;
  }

  /** Reads and verifies the value of `entry`; any failure is settled (counted, dropped) and answers `undefined`. */
  private async load(
    loc: Location,
    key: string,
    entry: IndexEntry,
  ): Promise<{ value: string; expiresAt: number } | undefined> {
    if (entry.expiresAt <= this.now()) {
      this.expired++;
      this.drop(loc.category, loc.hash, entry);
      return undefined;
    }
    const read = await this.read(loc, key);
    if (read.kind === 'hit') return read;
    this.settleFailedRead(loc, entry, read);
    return undefined;
  }

  /** Reads and verifies an entry file. I/O errors other than ENOENT are counted here. */
  private async read(loc: Location, key: string): Promise<ReadResult> {
    let buf: Buffer;
    try {
      buf = await this.io(() => this.fs.readFile(loc.file));
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return { kind: 'missing' };
      this.fault('read', err, loc.category);
      return { kind: 'error' };
    }
    const nl = buf.indexOf(NEWLINE);
    if (nl < 0 || nl > MAX_HEADER_BYTES) return { kind: 'corrupt' };
    const header = parseHeader(buf.subarray(0, nl));
    if (!header || header.k !== key || header.n !== buf.length - nl - 1) return { kind: 'corrupt' };
    if (header.e <= this.now()) return { kind: 'expired' };
    return { kind: 'hit', value: buf.toString('utf8', nl + 1), expiresAt: header.e };
  }

  /** Index and disk follow-up of a read that found no usable value. */
  private settleFailedRead(loc: Location, entry: IndexEntry, read: ReadResult): void {
    const cat = loc.category;
    switch (read.kind) {
      case 'missing':
        // Removed behind our back (or by a concurrent delete): forget it.
        if (cat.index.get(loc.hash) === entry) this.unindex(cat, loc.hash);
        return;
      case 'expired':
        this.expired++;
        this.drop(cat, loc.hash, entry);
        return;
      case 'corrupt':
        this.countCorrupt(cat);
        this.drop(cat, loc.hash, entry);
        return;
      case 'error':
      case 'hit':
        return;
    }
  }

  /** Writes `body` atomically (temp file + rename) and indexes it. Runs on the key's chain. */
  private async write(
    loc: Location,
    key: string,
    body: Buffer,
    expiresAt: number,
  ): Promise<boolean> {
    const cat = loc.category;
    const tmp = path.join(cat.dir, `${loc.hash}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`);
    // 1. The temp file; when the category directory vanished, create it again and retry once.
    for (let attempt = 0; ; attempt++) {
      try {
        if (!cat.dirReady) {
          await this.io(() => this.fs.mkdir(cat.dir, { recursive: true }));
          cat.dirReady = true;
        }
        await this.io(() => this.fs.writeFile(tmp, body, { flag: 'wx' }));
        break;
      } catch (err) {
        if (errorCode(err) === 'ENOENT' && attempt === 0) {
          cat.dirReady = false;
          continue;
        }
        this.fault('write', err, cat);
        await this.unlinkFile(tmp, cat);
        return false;
      }
    }
    // 2. The atomic replace.
    try {
      await this.io(() => this.fs.rename(tmp, loc.file));
    } catch (err) {
      this.fault('rename', err, cat);
      await this.unlinkFile(tmp, cat);
      return false;
    }
    // 3. The index, synchronously after the rename so that it matches the disk; then the caps.
    this.indexPut(cat, loc.hash, { key, expiresAt, size: body.length, lastAccess: this.now() });
    this.enforceCaps(cat, loc.hash);
    return true;
  }

  /** Inserts or replaces an index entry as the most recently used. */
  private indexPut(cat: Category, hash: string, entry: IndexEntry): void {
    this.unindex(cat, hash);
    cat.index.set(hash, entry);
    cat.bytes += entry.size;
  }

  private unindex(cat: Category, hash: string): void {
    const old = cat.index.get(hash);
    if (!old) return;
    cat.bytes -= old.size;
    cat.index.delete(hash);
  }

  /** Marks an entry as just used (moves it to the recent end of the LRU order). */
  private touch(cat: Category, hash: string): void {
    const entry = cat.index.get(hash);
    if (!entry) return;
    entry.lastAccess = this.now();
    cat.index.delete(hash);
    cat.index.set(hash, entry);
  }

  /** Evicts least recently used entries until the category is within its caps; never `keep`. */
  private enforceCaps(cat: Category, keep: string | undefined): void {
    while (cat.index.size > this.maxEntries || cat.bytes > this.maxBytes) {
      const oldest = cat.index.keys().next();
      if (oldest.done || oldest.value === keep) return;
      this.unindex(cat, oldest.value);
      this.evictions++;
      this.track(this.removeIfUnindexed(cat, oldest.value));
    }
  }

  /** Drops `entry` from the index when it is still current, and removes its file in the background. */
  private drop(cat: Category, hash: string, entry: IndexEntry): void {
    if (cat.index.get(hash) === entry) this.unindex(cat, hash);
    this.track(this.removeIfUnindexed(cat, hash));
  }

  /**
   * Removes the file of `hash` on the key's chain, unless a write re-indexed the key meanwhile
   * (then the file on disk is that newer value). Callers never await another key's chain from
   * inside a chain, so chains cannot deadlock.
   */
  private removeIfUnindexed(cat: Category, hash: string): Promise<boolean> {
    return this.serialize(hash, async () => {
      if (cat.index.has(hash)) return false;
      return this.unlinkFile(path.join(cat.dir, hash + ENTRY_SUFFIX), cat);
    });
  }

  /** Unlinks a file: `true` when removed, `false` when absent or on error (counted). */
  private async unlinkFile(file: string, cat?: Category): Promise<boolean> {
    try {
      await this.io(() => this.fs.unlink(file));
      return true;
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') this.fault('unlink', err, cat);
      return false;
    }
  }

  /** Removes the temp files of `dir`: all of them, or those older than 60 s. Answers how many. */
  private async removeTmpFiles(dir: string, all: boolean): Promise<number> {
    const names = (await this.listDir(dir)).filter((n) => n.endsWith(TMP_SUFFIX));
    const removed = await Promise.all(
      names.map(async (name) => {
        const file = path.join(dir, name);
        if (!all) {
          try {
            const { mtimeMs } = await this.io(() => this.fs.stat(file));
            if (Date.now() - mtimeMs < ORPHAN_TMP_AGE_MS) return false;
          } catch (err) {
            if (errorCode(err) !== 'ENOENT') this.fault('sweep', err);
            return false;
          }
        }
        return this.unlinkFile(file);
      }),
    );
    return removed.filter(Boolean).length;
  }

  /** Names in `dir`; `[]` when it cannot be listed (ENOENT/ENOTDIR silently, other errors counted). */
  private async listDir(dir: string): Promise<string[]> {
    try {
      return await this.io(() => this.fs.readdir(dir));
    } catch (err) {
      const code = errorCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.fault('readdir', err);
      return [];
    }
  }

  /** Writes and removes a tiny file in the root directory, timing it. */
  private async runProbe(): Promise<void> {
    const file = path.join(this.directory, `.probe.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`);
    const start = performance.now();
    try {
      await this.io(() => this.fs.writeFile(file, Buffer.from('ok'), { flag: 'wx' }));
      await this.io(() => this.fs.unlink(file));
      this.probe = { at: this.now(), ok: true, latencyMs: performance.now() - start };
    } catch (err) {
      this.fault('probe', err);
      this.probe = {
        at: this.now(),
        ok: false,
        latencyMs: performance.now() - start,
        reason: `directory not writable (${errorCode(err) ?? 'error'})`,
      };
    }
  }

  // ---------------------------------------------------------------- internals: plumbing

  private io<T>(task: () => Promise<T>): Promise<T> {
    return this.limiter.run(task);
  }

  /** Runs `task` after every earlier task queued for the same key hash. */
  private serialize<T>(hash: string, task: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(hash) ?? Promise.resolve();
    const result = previous.then(task);
    // The chain only orders tasks; each task's outcome reaches its caller through `result`.
    const tail = result.then(noop, noop);
    this.chains.set(hash, tail);
    void tail.then(() => {
      if (this.chains.get(hash) === tail) this.chains.delete(hash);
    });
    return result;
  }

  /** Keeps a background promise (never rejecting) until it settles, for `disconnect`. */
  private track(p: Promise<unknown>): void {
    this.background.track(p);
  }

  private drain(): Promise<void> {
    return this.background.drain();
  }

  private countCorrupt(cat: Category): void {
    this.corrupt++;
    this.fault('corrupt', undefined, cat);
  }

  /**
   * Counts an error (store and category) and logs it at most once per 10 s per kind. The line
   * names the operation, the error code and the category, never a key or a value.
   */
  private fault(op: string, err: unknown, cat?: Category): void {
    this.errors++;
    if (cat) cat.errors++;
    const code =
      err === undefined
        ? undefined
        : (errorCode(err) ?? (err instanceof Error ? err.name : 'error'));
    const kind = code ? `${op}:${code}` : op;
    this.log.warn(
      kind,
      `file cache ${kind}${cat ? ` in category '${cat.name}'` : ''}; answered as a miss / not stored`,
    );
  }
}

// ------------------------------------------------------------------ helpers

function noop(): void {
  // Deliberately nothing: see `serialize`.
}

function positiveInteger(field: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new CacheValidationError(
      field,
      `${field} must be a positive integer (got ${String(value)})`,
    );
  }
  return v;
}

/** The second `:` segment of `prefix:type:…` keys, else `'default'`. */
function defaultCategoryOf(key: string): string {
  const first = key.indexOf(':');
  if (first < 0) return 'default';
  const second = key.indexOf(':', first + 1);
  if (second < 0) return 'default';
  return key.slice(first + 1, second);
}

/** Lower-case `[a-z0-9_-]`, at most 64 characters, `'default'` when empty: always a safe directory name. */
function sanitizeCategory(name: string): string {
  const clean = String(name)
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '_')
    .slice(0, 64);
  return clean === '' ? 'default' : clean;
}

function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Header line + value, ready to write. @throws CacheValidationError when the key makes the header too long. */
function encodeEntry(key: string, value: string, expiresAt: number): Buffer {
  const valueBytes = Buffer.byteLength(value, 'utf8');
  const header: EntryHeader = { v: HEADER_VERSION, k: key, e: expiresAt, n: valueBytes };
  const headerText = JSON.stringify(header) + '\n';
  const headerBytes = Buffer.byteLength(headerText, 'utf8');
  if (headerBytes > MAX_HEADER_BYTES) {
    throw new CacheValidationError(
      'key',
      `key is too long for the file store (header over ${MAX_HEADER_BYTES} bytes)`,
      'CACHE_INVALID_KEY',
    );
  }
  const buf = Buffer.allocUnsafe(headerBytes + valueBytes);
  buf.write(headerText, 0, 'utf8');
  buf.write(value, headerBytes, 'utf8');
  return buf;
}

/** The header of an entry file, or `undefined` when it is not a valid one. */
function parseHeader(line: Buffer): EntryHeader | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    // Not JSON: the caller counts the file as corrupt.
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const h = parsed as Partial<Record<keyof EntryHeader, unknown>>;
  if (
    h.v !== HEADER_VERSION ||
    typeof h.k !== 'string' ||
    typeof h.e !== 'number' ||
    !Number.isFinite(h.e)
  )
    return undefined;
  if (typeof h.n !== 'number' || !Number.isSafeInteger(h.n) || h.n < 0) return undefined;
  return { v: h.v, k: h.k, e: h.e, n: h.n };
}

function errorCode(err: unknown): string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string')
    return err.code;
  return undefined;
}
