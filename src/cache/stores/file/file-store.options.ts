import { promises as nodeFs } from 'node:fs';
import * as path from 'node:path';
import { CacheValidationError } from '../../errors/cache-errors.js';
import { positiveInteger } from '../../util/arguments.js';

/** The part of an open file handle `FileStore` uses (a subset of `fs.promises.FileHandle`). */
export interface FileStoreFileHandle {
  /** Reads up to `length` bytes at file `position` into `buffer` at `offset`. */
  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  /** Size in bytes and modification time (ms since the epoch) of the open file; `isFile` when known. */
  stat(): Promise<FileStoreStat>;
  close(): Promise<void>;
}

/** What `FileStore` reads of a file's status; `isFile` (as on `fs.Stats`) lets it skip FIFOs, sockets and devices. */
export interface FileStoreStat {
  size: number;
  mtimeMs: number;
  isFile?(): boolean;
}

/**
 * The part of `fs.promises` `FileStore` uses; `fs.promises` itself satisfies it. Injectable so
 * that tests can simulate ENOSPC, EROFS, EIO and the like.
 */
export interface FileStoreFs {
  /** `flags` is a string (`'r'`) or the numeric `fs.constants` flags (start-up reads are non-blocking). */
  open(file: string, flags: string | number): Promise<FileStoreFileHandle>;
  readFile(file: string): Promise<Buffer>;
  writeFile(file: string, data: Uint8Array, options: { flag: string }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  stat(file: string): Promise<FileStoreStat>;
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
  /** Entries kept over all categories before the least recently used (of any category) are evicted. Default 0: no total cap. */
  maxEntries?: number;
  /** Bytes on disk kept over all categories before LRU eviction (of any category). Default 0: no total cap. */
  maxBytes?: number;
  /**
   * Period of the background writability probe of the directory (a tiny file written and removed),
   * in milliseconds; health reflects a directory that went bad (or came back) within it. Default
   * 5,000; 0 = off (probes then run only at `connect` and from `getHealth`).
   */
  healthProbeIntervalMs?: number;
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

/** The caps of a `FileStore` (module option `fileCaps`; env `CACHE_FILE_MAX_*` in the app). */
export type FileStoreCaps = Pick<
  FileStoreOptions,
  'maxEntriesPerCategory' | 'maxBytesPerCategory' | 'maxEntries' | 'maxBytes'
>;

/** Names of the `FileStoreCaps` fields. */
const CAP_FIELDS = ['maxEntriesPerCategory', 'maxBytesPerCategory', 'maxEntries', 'maxBytes'];

/**
 * The caps of `caps` (absent = none given), for `FileStore` options.
 * @throws CacheValidationError naming `fileCaps` or its unknown field; the values are checked by `FileStore`.
 */
export function fileStoreCaps(caps: FileStoreCaps | undefined): FileStoreCaps {
  if (caps === undefined) return {};
  if (caps === null || typeof caps !== 'object')
    throw new CacheValidationError('fileCaps', 'fileCaps must be an object');
  const unknown = Object.keys(caps).find((k) => !CAP_FIELDS.includes(k));
  if (unknown !== undefined)
    throw new CacheValidationError(`fileCaps.${unknown}`, `fileCaps.${unknown} is not known`);
  const out: FileStoreCaps = {};
  for (const k of CAP_FIELDS as (keyof FileStoreCaps)[])
    if (caps[k] !== undefined) out[k] = caps[k];
  return out;
}

/** `FileStoreOptions` validated, with every default filled in and the directory made absolute. */
export type ResolvedFileStoreOptions = Required<FileStoreOptions>;

const DEFAULT_MAX_CONCURRENT_IO = 16;
const DEFAULT_MAX_ENTRIES_PER_CATEGORY = 10_000;
const DEFAULT_MAX_BYTES_PER_CATEGORY = 256 * 1024 * 1024;
const DEFAULT_CLEANUP_INTERVAL_MS = 60_000;
const DEFAULT_HEALTH_PROBE_INTERVAL_MS = 5_000;
/** Longest period `setInterval` accepts, in milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Methods an injected `fs` must provide. */
const FS_METHODS = [
  'open',
  'readFile',
  'writeFile',
  'rename',
  'unlink',
  'readdir',
  'stat',
  'mkdir',
] as const;

/**
 * Validates `options` and fills in the defaults.
 * @throws CacheValidationError naming the first invalid option.
 */
export function resolveFileStoreOptions(options: FileStoreOptions): ResolvedFileStoreOptions {
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
  const resolved: ResolvedFileStoreOptions = {
    directory: path.resolve(directory),
    maxConcurrentIo: positiveInteger(
      options.maxConcurrentIo ?? DEFAULT_MAX_CONCURRENT_IO,
      'maxConcurrentIo',
    ),
    maxEntriesPerCategory: positiveInteger(
      options.maxEntriesPerCategory ?? DEFAULT_MAX_ENTRIES_PER_CATEGORY,
      'maxEntriesPerCategory',
    ),
    maxBytesPerCategory: positiveInteger(
      options.maxBytesPerCategory ?? DEFAULT_MAX_BYTES_PER_CATEGORY,
      'maxBytesPerCategory',
    ),
    maxEntries: totalCap(options.maxEntries, 'maxEntries'),
    maxBytes: totalCap(options.maxBytes, 'maxBytes'),
    cleanupIntervalMs: interval(
      options.cleanupIntervalMs ?? DEFAULT_CLEANUP_INTERVAL_MS,
      'cleanupIntervalMs',
    ),
    healthProbeIntervalMs: interval(
      options.healthProbeIntervalMs ?? DEFAULT_HEALTH_PROBE_INTERVAL_MS,
      'healthProbeIntervalMs',
    ),
    categoryOf: optionalFunction(
      options.categoryOf,
      'categoryOf',
      'categoryOf must be a function (key) => category',
      defaultCategoryOf,
    ),
    now: optionalFunction(
      options.now,
      'now',
      'now must be a function answering ms since the epoch',
      Date.now,
    ),
    fs: options.fs ?? nodeFs,
  };
  if (options.fs !== undefined) assertFs(options.fs);
  return resolved;
}

/** The second `:` segment of `prefix:type:…` keys, else `'default'`. */
export function defaultCategoryOf(key: string): string {
  const first = key.indexOf(':');
  if (first < 0) return 'default';
  const second = key.indexOf(':', first + 1);
  if (second < 0) return 'default';
  return key.slice(first + 1, second);
}

/** An integer period from 0 (off) to the longest `setInterval` accepts, in milliseconds; else throws naming `field`. */
function interval(intervalMs: number, field: string): number {
  if (!Number.isInteger(intervalMs) || intervalMs < 0 || intervalMs > MAX_TIMER_MS) {
    throw new CacheValidationError(
      field,
      `${field} must be an integer from 0 (off) to ${MAX_TIMER_MS} ms (got ${String(intervalMs)})`,
    );
  }
  return intervalMs;
}

/** A total cap: a non-negative integer, 0 (the default) meaning none; else throws naming `field`. */
function totalCap(value: number | undefined, field: string): number {
  if (value === undefined || value === 0) return 0;
  return positiveInteger(value, field);
}

/** `value` when it is a function, `fallback` when absent; else throws naming `field`. */
function optionalFunction<F extends (...args: never[]) => unknown>(
  value: F | undefined,
  field: string,
  message: string,
  fallback: F,
): F {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') throw new CacheValidationError(field, message);
  return value;
}

/** Throws naming `fs` unless `fs` provides every method `FileStore` calls. */
function assertFs(fs: FileStoreFs): void {
  const missing = FS_METHODS.filter((m) => typeof fs?.[m] !== 'function');
  if (fs === null || typeof fs !== 'object' || missing.length > 0) {
    throw new CacheValidationError(
      'fs',
      `fs must provide ${FS_METHODS.join(', ')} (missing: ${missing.join(', ')})`,
    );
  }
}
