import { assertTtlMs as checkTtl } from '../../util/arguments.js';
import {
  batchAnswer,
  checkAsOf,
  checkCounterArgs,
  setAnswer,
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
} from '../cache-store.js';
import { CategoryIndex } from './category-index.js';
import { EntryFiles } from './entry-files.js';
import { encodeFileRecord } from './entry-format.js';
import { FileHealth } from './file-health.js';
import {
  FileStoreCounters,
  type FileStoreCategoryStats,
  type FileStoreStats,
} from './file-stats.js';
import { resolveFileStoreOptions, type FileStoreOptions } from './file-store.options.js';
import { IndexLoader } from './index-loader.js';
import { IndexedEntries } from './indexed-entries.js';
import { IoLimiter } from './io-limiter.js';
import { ProcessLocks } from './process-locks.js';
import { FileSweeper, type FileStoreSweepResult } from './sweeper.js';

export type { FileStoreCategoryStats, FileStoreStats } from './file-stats.js';
export type {
  FileStoreCaps,
  FileStoreFileHandle,
  FileStoreFs,
  FileStoreOptions,
  FileStoreStat,
} from './file-store.options.js';
export type { FileStoreSweepResult } from './sweeper.js';

/** Deletes run in batches of this many by `flushPattern`. */
const FLUSH_BATCH = 256;

/**
 * Persistent L2 cache tier for single-box deployments: one file per key under
 * `<directory>/<category>/<sha256(key)>.entry` (format: `entry-format.ts`), written atomically
 * (`entry-files.ts`), found through an in-memory per-category LRU index with entry and byte caps
 * (`category-index.ts`), each key's mutations serialized (`key-chains.ts`). All I/O is
 * asynchronous, at most `maxConcurrentIo` operations at once. Faults never throw: they are counted,
 * logged rate-limited (never keys or values) and answered as a miss / `false` / `undefined`; only
 * bad arguments throw `CacheValidationError`. Locks live in process memory.
 */
export class FileStore implements CacheStore {
  /** Driver kind. */
  readonly kind = 'file' as const;

  private readonly now: () => number;
  private readonly maxBytes: number;
  private readonly counters = new FileStoreCounters();
  private readonly index: CategoryIndex;
  private readonly entries: IndexedEntries;
  private readonly loader: IndexLoader;
  private readonly sweeper: FileSweeper;
  private readonly health: FileHealth;
  private readonly locks: ProcessLocks;

  /** @throws CacheValidationError naming the first invalid option. */
  constructor(options: FileStoreOptions) {
    const o = resolveFileStoreOptions(options);
    this.now = o.now;
    this.maxBytes = o.maxBytesPerCategory;
    const files = new EntryFiles(o.fs, new IoLimiter(o.maxConcurrentIo), this.counters, o.now);
    this.index = new CategoryIndex(o, this.counters);
    this.entries = new IndexedEntries(this.index, files, this.counters, o.now);
    this.locks = new ProcessLocks(o.now);
    this.loader = new IndexLoader(
      o.directory,
      files,
      this.index,
      this.entries,
      this.counters,
      o.now,
      () => this.startSweepTimer(),
    );
    this.sweeper = new FileSweeper(
      o.cleanupIntervalMs,
      o.directory,
      this.loader,
      this.entries,
      this.locks,
      files,
      o.now,
    );
    this.health = new FileHealth(
      o.directory,
      files,
      this.index,
      this.loader,
      this.counters,
      o.now,
      o.healthProbeIntervalMs,
    );
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Creates the directory, removes every temp file, rebuilds the index from the header lines
   * (removing expired and corrupt files; anything that is not a regular file is skipped, never
   * opened), probes that the directory takes writes, and starts the sweep and health-probe timers.
   * Resolves even when the directory is unusable (health then reports `down` at once; the
   * background probe retries it).
   */
  async connect(): Promise<void> {
    await this.loader.connect();
    await this.health.start();
  }

  /** Stops the timers and waits for the sweep, probe and background removals in flight. */
  async disconnect(): Promise<void> {
    this.sweeper.stop();
    await this.health.stop();
    await this.loader.ready();
    await this.sweeper.idle();
    await this.entries.drain();
    this.loader.disconnected();
  }

  // ---------------------------------------------------------------- reads

  /** The value of `key`, or `undefined` (missing, expired, corrupt or unreadable). */
  async get(key: string): Promise<string | undefined> {
    await this.loader.ready();
    const loc = this.index.locate(key);
    const cat = loc.category;
    const entry = cat.index.get(loc.hash);
    const value = entry ? await this.entries.load(loc, key, entry) : undefined;
    if (value === undefined) {
      this.counters.misses++;
      cat.misses++;
      return undefined;
    }
    this.counters.hits++;
    cat.hits++;
    this.index.touch(cat, loc.hash);
    return value.value;
  }

  /** True when `key` is stored and not expired (answered from the index, no I/O). */
  async exists(key: string): Promise<boolean> {
    await this.loader.ready();
    return this.entries.live(this.index.locate(key)) !== undefined;
  }

  /** Remaining time to live of `key` in ms (rounded up), or -2 when missing. Never -1: every key has a TTL. */
  async ttl(key: string): Promise<number> {
    await this.loader.ready();
    const entry = this.entries.live(this.index.locate(key));
    return entry ? Math.max(1, Math.ceil(entry.expiresAt - this.now())) : -2;
  }

  /** Stored, unexpired keys matching the glob `pattern` (`*`, `?`, `[a-z]`, `[^…]`, `\` escapes), from the index. */
  async keys(pattern: string): Promise<string[]> {
    await this.loader.ready();
    return this.index.keys(pattern, this.now());
  }

  /** Values of `keys` in order (`undefined` for misses); reads run concurrently under the I/O limit. */
  pipelineGet(keys: readonly string[]): Promise<(string | undefined)[]> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  // ---------------------------------------------------------------- writes

  /**
   * Stores `value` under `key` for `ttlMs` milliseconds (atomic replace); with `options.asOf`, only
   * when the stored entry is not newer (read and compared on the key's chain: atomic in the
   * process). `false` / `failed` when it could not be written (disk full, read-only, permissions)
   * or is larger than `maxBytesPerCategory`.
   * @throws CacheValidationError for a non-positive or non-finite `ttlMs`, a bad `asOf`, or a key too long for a header.
   */
  async set<O extends WriteOptions | undefined = undefined>(
    key: string,
    value: string,
    ttlMs: number,
    options?: O,
  ): Promise<SetAnswer<O>> {
    checkTtl(ttlMs);
    checkAsOf(options?.asOf);
    return setAnswer(options, await this.write(key, value, ttlMs, options?.asOf));
  }

  /** One write (see `set`), answering its outcome. */
  private async write(
    key: string,
    value: string,
    ttlMs: number,
    asOf: number | undefined,
  ): Promise<WriteOutcome> {
    await this.loader.ready();
    const loc = this.index.locate(key);
    const expiresAt = this.now() + ttlMs;
    const body = encodeFileRecord(key, value, expiresAt);
    if (body.length > this.maxBytes) {
      this.counters.fault('set:too-large', undefined, loc.category);
      return 'failed';
    }
    if (asOf !== undefined) return this.entries.storeIfNewer(loc, key, body, expiresAt, asOf);
    return (await this.entries.store(loc, key, body, expiresAt)) ? 'written' : 'failed';
  }

  /**
   * Stores every entry (concurrently, under the I/O limit), each as `set` does. `false` when any
   * could not be stored; with `{ outcomes: true }`, each entry's outcome.
   * @throws CacheValidationError before writing anything when any `ttlMs` or `asOf` is invalid.
   */
  async pipelineSet<O extends BatchWriteOptions | undefined = undefined>(
    entries: readonly StoreEntry[],
    options?: O,
  ): Promise<BatchAnswer<O>> {
    for (const e of entries) checkTtl(e.ttlMs);
    for (const e of entries) checkAsOf(e.asOf, `asOf of '${e.key}'`);
    const outcomes = await Promise.all(
      entries.map((e) => this.write(e.key, e.value, e.ttlMs, e.asOf)),
    );
    return batchAnswer(options, outcomes);
  }

  /**
   * Removes `key`. `true` when a live key was removed. When the file cannot be unlinked (read-only
   * file system) the key is still dropped from the index, so it is not served, and `false` is answered.
   */
  async delete(key: string): Promise<boolean> {
    await this.loader.ready();
    const loc = this.index.locate(key);
    return this.entries.remove(loc);
  }

  /**
   * Gives an existing key a new TTL of `ttlMs` milliseconds (rewrites its header). `true` when the key existed.
   * @throws CacheValidationError for a non-positive or non-finite `ttlMs`.
   */
  async expire(key: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    await this.loader.ready();
    const loc = this.index.locate(key);
    return this.entries.renew(loc, key, ttlMs);
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
   * Adds 1 (or `options.by`) to the decimal integer at `key` (0 when missing), atomically within
   * the process. A new counter lives `ttlMs` milliseconds; an existing one keeps its expiry (and
   * is left alone when it outlives `options.maxTtlMs`). Answers the new value and the remaining TTL
   * in ms, or `undefined` when the value is not an integer or the disk fails.
   * @throws CacheValidationError for a non-positive or non-finite `ttlMs`, a bad `by` or `maxTtlMs`.
   */
  async increment(
    key: string,
    ttlMs: number,
    options?: CounterOptions,
  ): Promise<CounterValue | undefined> {
    checkCounterArgs(ttlMs, options);
    await this.loader.ready();
    const loc = this.index.locate(key);
    return this.entries.increment(loc, key, ttlMs, options?.by, options?.maxTtlMs);
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
    return this.locks.acquire(key, token, ttlMs);
  }

  /** Releases the lock `key` when it is still held by `token`. `true` when released. */
  async releaseLock(key: string, token: string): Promise<boolean> {
    return this.locks.release(key, token);
  }

  // ---------------------------------------------------------------- health, statistics, cleanup

  /**
   * `up` when the directory takes writes (a tiny probe file is written and removed, at most once
   * per 5 s here, and in the background), with the number of entries and bytes held; `down` with
   * the reason while it is unusable or refuses writes. Never throws.
   */
  getHealth(): Promise<StoreHealth> {
    return this.health.report();
  }

  /**
   * From memory: `down` (not ready) while the directory is unusable, `degraded` while it refuses
   * writes (disk full, read-only), with a reason (`file_store_down: …`, `file_store_rejecting_writes: …`).
   */
  describe(): StoreDescription {
    return this.health.describe();
  }

  /** Counters since start: hits, misses, errors (corrupt files included), corrupt, expired, evictions. */
  getStats(): FileStoreStats {
    return this.counters.snapshot();
  }

  /** Entries, bytes and counters of each category seen since start, by category name. */
  getCategoryStats(): Record<string, FileStoreCategoryStats> {
    return this.index.stats();
  }

  /**
   * Removes expired entries, expired locks and temp files older than 60 s (wall clock against
   * their mtime). One sweep runs at a time: a call during a sweep answers that sweep's result.
   * Never rejects.
   */
  sweep(): Promise<FileStoreSweepResult> {
    return this.sweeper.sweep();
  }

  /** Sweeps every `cleanupIntervalMs` through `sweep` (so a spy or subclass sees each tick). */
  private startSweepTimer(): void {
    this.sweeper.start(() => {
      this.sweep().catch((err: unknown) => this.counters.fault('sweep', err));
    });
  }
}
