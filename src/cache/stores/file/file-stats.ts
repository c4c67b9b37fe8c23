import { RateLimitedLogger } from '../../util/rate-limited-logger.js';
import type { StoreStats } from '../cache-store.js';

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

/** The per-category counters a fault updates (a `Category` of the index). */
export interface FaultCategory {
  readonly name: string;
  errors: number;
}

/** Operations whose failure means the directory does not take writes (or cannot be used at all). */
const WRITE_OPS: ReadonlySet<string> = new Set(['connect', 'probe', 'write', 'rename']);

/** The last failure on the write path not followed by a successful write. */
export interface StorageFault {
  /** `connect` (creating the directory), `probe` (the writability probe), `write` or `rename`. */
  op: string;
  /** The system error code (`ENOSPC`, `ENOTDIR`, `EROFS`, …) or the error's name. */
  code: string;
}

/**
 * The store-wide counters of a `FileStore`, and its fault reporting: each fault is counted (store
 * and category) and logged at most once per 10 s per kind, naming the operation, the error code and
 * the category, never a key or a value.
 */
export class FileStoreCounters {
  hits = 0;
  misses = 0;
  errors = 0;
  corrupt = 0;
  expired = 0;
  evictions = 0;
  /** The last write-path fault not followed by a successful write (health reads it); `undefined` when writes work. */
  storageFault: StorageFault | undefined;
  private readonly log = new RateLimitedLogger('FileStore');

  /** A write (entry or probe) reached the disk: the directory takes writes again. */
  writeSucceeded(): void {
    this.storageFault = undefined;
  }

  /** Counts an error of operation `op` (in `cat`, when given) and logs it, rate-limited. */
  fault(op: string, err: unknown, cat?: FaultCategory): void {
    this.errors++;
    if (cat) cat.errors++;
    const code =
      err === undefined
        ? undefined
        : (errorCode(err) ?? (err instanceof Error ? err.name : 'error'));
    if (code !== undefined && WRITE_OPS.has(op)) this.storageFault = { op, code };
    const kind = code ? `${op}:${code}` : op;
    this.log.warn(
      kind,
      `file cache ${kind}${cat ? ` in category '${cat.name}'` : ''}; answered as a miss / not stored`,
    );
  }

  /** Counts a truncated or corrupt entry file found in `cat` (also an error). */
  countCorrupt(cat: FaultCategory): void {
    this.corrupt++;
    this.fault('corrupt', undefined, cat);
  }

  /** A copy of the counters. */
  snapshot(): FileStoreStats {
    return {
      hits: this.hits,
      misses: this.misses,
      errors: this.errors,
      corrupt: this.corrupt,
      expired: this.expired,
      evictions: this.evictions,
    };
  }
}

/** The `code` of a Node.js system error (`ENOENT`, `ENOSPC`, …), or `undefined`. */
export function errorCode(err: unknown): string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string')
    return err.code;
  return undefined;
}
