import { performance } from 'node:perf_hooks';
import type { StoreDescription, StoreHealth } from '../cache-store.js';
import type { CategoryIndex } from './category-index.js';
import type { EntryFiles } from './entry-files.js';
import { errorCode, type FileStoreCounters } from './file-stats.js';
import type { IndexLoader } from './index-loader.js';

/** The writability probe of `report` runs at most once per this many milliseconds. */
const HEALTH_PROBE_INTERVAL_MS = 5_000;

/** The last writability probe: when (store clock, ms), whether it passed, how long it took (ms). */
interface ProbeResult {
  at: number;
  ok: boolean;
  latencyMs: number;
  reason?: string;
}

/**
 * Health of a `FileStore`: the directory is probed by writing and removing a tiny file (at most
 * once per 5 s, one probe at a time), and the report carries the entries and bytes held.
 */
export class FileHealth {
  private probe: ProbeResult | undefined;
  private probing: Promise<void> | undefined;

  constructor(
    private readonly directory: string,
    private readonly files: EntryFiles,
    private readonly index: CategoryIndex,
    private readonly loader: IndexLoader,
    private readonly counters: FileStoreCounters,
    private readonly now: () => number,
  ) {}

  /** `up` when the directory is writable, with entries, bytes and categories held. Never throws. */
  async report(): Promise<StoreHealth> {
    const t = this.now();
    if (!this.probe || t - this.probe.at >= HEALTH_PROBE_INTERVAL_MS) {
      this.probing ??= this.runProbe().finally(() => {
        this.probing = undefined;
      });
      await this.probing;
    }
    const probe = this.probe ?? { ok: false, latencyMs: 0, reason: 'not probed' };
    const health: StoreHealth = {
      status: probe.ok ? 'up' : 'down',
      kind: 'file',
      connected: this.loader.connected,
      latencyMs: probe.latencyMs,
      ...this.index.totals(),
    };
    if (probe.reason !== undefined) health.reason = probe.reason;
    return health;
  }

  /** Ready once connected and the last directory probe (if any) succeeded; from memory. */
  describe(): StoreDescription {
    return {
      kind: 'file',
      mode: 'embedded',
      ready: this.loader.connected && this.probe?.ok !== false,
    };
  }

  /** Writes and removes a tiny file in the root directory, timing it. */
  private async runProbe(): Promise<void> {
    const start = performance.now();
    try {
      await this.files.probe(this.directory);
      this.probe = { at: this.now(), ok: true, latencyMs: performance.now() - start };
    } catch (err) {
      this.counters.fault('probe', err);
      this.probe = {
        at: this.now(),
        ok: false,
        latencyMs: performance.now() - start,
        reason: `directory not writable (${errorCode(err) ?? 'error'})`,
      };
    }
  }
}
