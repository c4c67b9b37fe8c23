import * as path from 'node:path';
import { CATEGORY_NAME, type CategoryIndex, type IndexEntry } from './category-index.js';
import type { EntryFiles } from './entry-files.js';
import { ENTRY_NAME, ENTRY_SUFFIX, TMP_SUFFIX, hashKey } from './entry-format.js';
import type { FileStoreCounters } from './file-stats.js';
import type { IndexedEntries } from './indexed-entries.js';

/**
 * The start-up of a `FileStore`: creates the directory, rebuilds the index from the header lines
 * of the entry files (removing expired and corrupt ones) and says when the store is connected.
 * Calls that arrive while a start-up runs wait for it (`ready`), so none races the rebuild.
 */
export class IndexLoader {
  private isConnected = false;
  /** True once the index has been loaded from disk. */
  private loaded = false;
  /** True once `connect` ran (a sweep then retries a failed start-up). */
  private attempted = false;
  private connecting: Promise<void> | undefined;

  /** @param onOpened called after every start-up, even one that found the directory unusable. */
  constructor(
    private readonly directory: string,
    private readonly files: EntryFiles,
    private readonly index: CategoryIndex,
    private readonly entries: IndexedEntries,
    private readonly counters: FileStoreCounters,
    private readonly now: () => number,
    private readonly onOpened: () => void,
  ) {}

  /** True from a start-up that loaded the index until `disconnected`. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** Runs the start-up once at a time (removing every temp file); resolves even when the directory is unusable. */
  connect(): Promise<void> {
    if (!this.connecting) {
      this.connecting = this.open(true).finally(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  /** Waits for a start-up in progress. */
  async ready(): Promise<void> {
    if (this.connecting) await this.connecting;
  }

  /**
   * Loads the index when a directory that was unusable at `connect` may have come back, keeping
   * temp files (they may belong to writes in flight).
   */
  async retry(): Promise<void> {
    if (this.loaded || !this.attempted) return;
    this.connecting ??= this.open(false).finally(() => {
      this.connecting = undefined;
    });
    await this.connecting;
  }

  /** Marks the store disconnected. */
  disconnected(): void {
    this.isConnected = false;
  }

  /** Creates the directory and loads the index (see `connect`); `fresh` also removes every temp file. */
  private async open(fresh: boolean): Promise<void> {
    this.attempted = true;
    try {
      await this.files.mkdir(this.directory);
    } catch (err) {
      this.counters.fault('connect', err);
      this.onOpened();
      return;
    }
    try {
      // Temp files in the root are leftover health probes.
      if (fresh) await this.files.removeTmpFiles(this.directory, true);
      const names = await this.files.listDir(this.directory);
      await Promise.all(
        names.filter((n) => CATEGORY_NAME.test(n)).map((n) => this.loadCategory(n, fresh)),
      );
    } catch (err) {
      // Every I/O fault is handled per file; this only catches the unexpected, so start anyway.
      this.counters.fault('load', err);
    }
    this.loaded = true;
    this.isConnected = true;
    this.onOpened();
  }

  /** Loads one category directory into the index: headers read, expired and corrupt files (and, when `fresh`, every temp file) removed. */
  private async loadCategory(name: string, fresh: boolean): Promise<void> {
    const cat = this.index.category(name);
    const files = await this.files.listCategory(cat);
    if (!files) return;
    cat.dirReady = true;
    const now = this.now();
    const found: { hash: string; entry: IndexEntry; mtimeMs: number }[] = [];
    await Promise.all(
      files.map(async (file) => {
        const full = path.join(cat.dir, file);
        // 1. Temp files: leftovers of writes that never finished.
        if (file.endsWith(TMP_SUFFIX)) {
          if (fresh) await this.files.unlink(full, cat);
          return;
        }
        if (!ENTRY_NAME.test(file)) return;
        // 2. Entry files: only the header is read; bad, expired and misplaced ones go.
        const hash = file.slice(0, -ENTRY_SUFFIX.length);
        const head = await this.files.readHeader(full, cat);
        if (head === 'error' || head === 'skip') return;
        if (head === 'corrupt' || hashKey(head.header.k) !== hash) {
          this.counters.countCorrupt(cat);
          await this.files.unlink(full, cat);
          return;
        }
        if (head.header.e <= now) {
          this.counters.expired++;
          await this.files.unlink(full, cat);
          return;
        }
        if (this.index.categoryNameOf(head.header.k) !== name) {
          // Written under another `categoryOf`: unreachable from here, so it goes.
          await this.files.unlink(full, cat);
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
    // 3. Oldest write first, so that LRU order survives a restart as well as it can.
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const f of found) {
      if (!cat.index.has(f.hash)) this.index.put(cat, f.hash, f.entry);
    }
    this.entries.enforceCaps(cat, undefined);
  }
}
