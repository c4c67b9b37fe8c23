import * as path from 'node:path';
import { CATEGORY_NAME } from './category-index.js';
import type { EntryFiles } from './entry-files.js';
import type { IndexedEntries } from './indexed-entries.js';
import type { IndexLoader } from './index-loader.js';
import type { ProcessLocks } from './process-locks.js';

/** What one `FileStore.sweep` removed. */
export interface FileStoreSweepResult {
  /** Expired entries removed. */
  expired: number;
  /** Orphaned temporary files removed. */
  orphans: number;
}

/**
 * The expiry sweeper of a `FileStore`: removes expired entries, expired locks and orphaned temp
 * files, one sweep at a time, every `intervalMs` milliseconds once started (0 = never on its own).
 */
export class FileSweeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<FileStoreSweepResult> | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly directory: string,
    private readonly loader: IndexLoader,
    private readonly entries: IndexedEntries,
    private readonly locks: ProcessLocks,
    private readonly files: EntryFiles,
    private readonly now: () => number,
  ) {}

  /** Calls `tick` every interval from now on (unless off or already started); the timer never holds the process open. */
  start(tick: () => void): void {
    if (this.intervalMs === 0 || this.timer) return;
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer (a sweep in flight goes on: see `idle`). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Runs a sweep, or answers the one in flight. Never rejects. */
  sweep(): Promise<FileStoreSweepResult> {
    if (!this.sweeping) {
      this.sweeping = this.run().finally(() => {
        this.sweeping = undefined;
      });
    }
    return this.sweeping;
  }

  /** Waits for the sweep in flight, if any. */
  async idle(): Promise<void> {
    if (this.sweeping) await this.sweeping;
  }

  private async run(): Promise<FileStoreSweepResult> {
    await this.loader.ready();
    // 1. A directory that was unusable at connect may have come back: load what it holds.
    await this.loader.retry();
    // 2. Expired entries (out of the index at once, files removed on each key's chain) and locks.
    const now = this.now();
    const removing = this.entries.removeExpired(now);
    this.locks.removeExpired(now);
    const expired = await removing;
    // 3. Orphaned temp files, in the root (health probes) and in every category directory.
    let orphans = await this.files.removeTmpFiles(this.directory, false);
    for (const name of await this.files.listDir(this.directory)) {
      if (CATEGORY_NAME.test(name))
        orphans += await this.files.removeTmpFiles(path.join(this.directory, name), false);
    }
    return { expired, orphans };
  }
}
