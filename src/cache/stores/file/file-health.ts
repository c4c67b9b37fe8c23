import { performance } from 'node:perf_hooks';
import type { StoreDescription, StoreHealth } from '../cache-store.js';
import type { CategoryIndex } from './category-index.js';
import type { EntryFiles } from './entry-files.js';
import type { FileStoreCounters, StorageFault } from './file-stats.js';
import type { IndexLoader } from './index-loader.js';

/** The writability probe of `report` runs at most once per this many milliseconds. */
const HEALTH_PROBE_INTERVAL_MS = 5_000;

/** Codes of a directory that still serves reads but refuses writes (disk full, read-only, permissions). */
const WRITE_REFUSAL_CODES: ReadonlySet<string> = new Set([
  'ENOSPC',
  'EDQUOT',
  'EFBIG',
  'EROFS',
  'EACCES',
  'EPERM',
]);

/** Words for the codes an operator meets most, in health reasons. */
const CODE_WORDS: Readonly<Record<string, string>> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'not a directory',
  EEXIST: 'not a directory',
  ENOENT: 'directory missing',
  EIO: 'I/O error',
};

/** The last writability probe: when (store clock, ms) and how long it took (ms); its outcome is the store's write fault. */
interface ProbeResult {
  at: number;
  latencyMs: number;
}

/** The store's state from memory: `down` (unusable), `degraded` (refusing writes) or `up`, with why. */
interface FileState {
  status: 'up' | 'degraded' | 'down';
  reason?: string;
}

/**
 * Health of a `FileStore`, kept current without waiting for a caller: the directory is probed by
 * writing and removing a tiny file at `connect`, every `intervalMs` in the background (one probe at
 * a time; a directory unusable at start is retried then too), and from `report` when the last probe
 * is 5 s old; every write fault (ENOSPC, EROFS, ENOTDIR, …) counts at once, and the next write or
 * probe that succeeds clears it. `describe` answers from memory.
 */
export class FileHealth {
  private probe: ProbeResult | undefined;
  private probing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly directory: string,
    private readonly files: EntryFiles,
    private readonly index: CategoryIndex,
    private readonly loader: IndexLoader,
    private readonly counters: FileStoreCounters,
    private readonly now: () => number,
    /** Period of the background probe, in milliseconds; 0 = none. */
    private readonly intervalMs: number,
  ) {}

  /** Probes once now (after `connect`), then every `intervalMs` in the background (the timer never holds the process open). */
  async start(): Promise<void> {
    await this.refresh();
    if (this.intervalMs === 0 || this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops the background probe and waits for one in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.probing) await this.probing;
  }

  /** `up` when the directory takes writes, with entries, bytes and categories held. Never throws. */
  async report(): Promise<StoreHealth> {
    if (!this.probe || this.now() - this.probe.at >= HEALTH_PROBE_INTERVAL_MS) await this.refresh();
    const state = this.state();
    const health: StoreHealth = {
      status: state.status === 'up' ? 'up' : 'down',
      kind: 'file',
      connected: this.loader.connected,
      latencyMs: this.probe?.latencyMs ?? 0,
      ...this.index.totals(),
    };
    if (state.reason !== undefined) health.reason = state.reason;
    return health;
  }

  /**
   * From memory: `down` (not ready) while the directory is unusable (not connected, not a
   * directory, missing), `degraded` (still ready: reads are served) while it refuses writes (disk
   * full, read-only, permissions), else `up`. Reasons start with `file_store_down` or
   * `file_store_rejecting_writes`.
   */
  describe(): StoreDescription {
    const state = this.state();
    const d: StoreDescription = {
      kind: 'file',
      mode: 'embedded',
      ready: state.status !== 'down',
      status: state.status,
    };
    if (state.reason !== undefined) d.reasons = [state.reason];
    if (this.probe) {
      d.latencyMs = this.probe.latencyMs;
      d.probedAt = this.probe.at;
    }
    return d;
  }

  private state(): FileState {
    const fault = this.counters.storageFault;
    if (!this.loader.connected)
      return { status: 'down', reason: `file_store_down: ${faultWords(fault, 'not connected')}` };
    if (!fault) return { status: 'up' };
    if (WRITE_REFUSAL_CODES.has(fault.code) || fault.op === 'write' || fault.op === 'rename')
      return { status: 'degraded', reason: `file_store_rejecting_writes: ${faultWords(fault)}` };
    return { status: 'down', reason: `file_store_down: ${faultWords(fault)}` };
  }

  /** Runs one probe (or joins the one in flight); retries loading a directory unusable at start. */
  private refresh(): Promise<void> {
    this.probing ??= this.runProbe().finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  /** Writes and removes a tiny file in the root directory, timing it; a failure is a counted fault. */
  private async runProbe(): Promise<void> {
    if (!this.loader.connected) await this.loader.retry();
    const start = performance.now();
    try {
      await this.files.probe(this.directory);
      this.probe = { at: this.now(), latencyMs: performance.now() - start };
    } catch (err) {
      // Counted, and recorded as the store's write fault (see `FileStoreCounters.fault`).
      this.counters.fault('probe', err);
      this.probe = { at: this.now(), latencyMs: performance.now() - start };
    }
  }
}

/** `disk full (ENOSPC)`, or `fallback` without a fault. */
function faultWords(fault: StorageFault | undefined, fallback = 'error'): string {
  if (!fault) return fallback;
  const words = CODE_WORDS[fault.code];
  return words ? `${words} (${fault.code})` : `${fault.op} failed (${fault.code})`;
}
