/**
 * File store health and settings (issue 15): health reflects an unusable directory or a full disk
 * at once, a FIFO (or any non-regular file) in the cache folder never blocks start-up, and the caps
 * (per category and in total) are settings, read from the environment by the app's config.
 */
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { loadAppConfig } from '../../config/app-config.js';
import { CacheHealthReport } from '../../src/cache/cache-health.report.js';
import { hashKey } from '../../src/cache/stores/file/entry-format.js';
import {
  FileStore,
  type FileStoreFs,
  type FileStoreOptions,
} from '../../src/cache/stores/file/file-store.js';
import { createCacheContext, waitFor, type CacheContext } from '../support/cache-context.js';

const realFs: FileStoreFs = {
  open: (file, flags) => fsp.open(file, flags),
  readFile: (file) => fsp.readFile(file),
  writeFile: (file, data, options) => fsp.writeFile(file, data, options),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (file) => fsp.unlink(file),
  readdir: (dir) => fsp.readdir(dir),
  stat: (file) => fsp.stat(file),
  mkdir: (dir, options) => fsp.mkdir(dir, options),
};

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated, ${syscall}`), { code, syscall, errno: -1 });
}

/** A file system whose writes fail with ENOSPC while `full.on` is true (reads keep working). */
function fullDisk(): { fs: FileStoreFs; full: { on: boolean } } {
  const full = { on: false };
  const writeFile: FileStoreFs['writeFile'] = async (file, data, options) => {
    if (full.on) throw errno('ENOSPC', 'write');
    return fsp.writeFile(file, data, options);
  };
  return { fs: { ...realFs, writeFile }, full };
}

/** Resolves with the outcome of `p`, or 'timed out' after `ms` (the timer never holds the process). */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'timed out'> {
  return Promise.race([
    p,
    new Promise<'timed out'>((resolve) => setTimeout(() => resolve('timed out'), ms).unref()),
  ]);
}

describe('FileStore health and settings', () => {
  let sandbox: string;
  let dir: string;
  let stores: FileStore[];
  let contexts: CacheContext[];
  let warn: ReturnType<typeof jest.spyOn>;

  const connected = async (options: Partial<FileStoreOptions> = {}): Promise<FileStore> => {
    const store = new FileStore({ directory: dir, cleanupIntervalMs: 0, ...options });
    stores.push(store);
    await store.connect();
    return store;
  };
  const context = async (options: Parameters<typeof createCacheContext>[0]) => {
    const c = await createCacheContext(options);
    contexts.push(c);
    return c;
  };

  beforeEach(async () => {
    sandbox = await fsp.mkdtemp(path.join(os.tmpdir(), 'file-store-health-'));
    dir = path.join(sandbox, 'cache');
    stores = [];
    contexts = [];
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    try {
      await Promise.all(stores.map((s) => s.disconnect()));
      await Promise.all(contexts.map((c) => c.close()));
    } finally {
      warn.mockRestore();
      await fsp.rm(sandbox, { recursive: true, force: true });
    }
  });

  describe('health reflects the directory at once', () => {
    it('a CACHE_FILE_DIR that is a file: down at once (store and cache indicator), with the reason', async () => {
      const file = path.join(sandbox, 'plain-file');
      await fsp.writeFile(file, 'x');
      const store = await connected({ directory: file });
      expect(store.describe()).toMatchObject({
        kind: 'file',
        ready: false,
        status: 'down',
        reasons: ['file_store_down: not a directory (ENOTDIR)'],
      });
      expect(await store.getHealth()).toMatchObject({
        status: 'down',
        reason: 'file_store_down: not a directory (ENOTDIR)',
      });

      // A path below a file, through the module: the app-facing cache indicator says degraded.
      const c = await context({ driver: 'file', fileDirectory: path.join(file, 'sub') });
      expect(c.store.describe()).toMatchObject({ status: 'down', ready: false });
      expect(c.store.describe().reasons?.[0]).toBe('file_store_down: not a directory (ENOTDIR)');
      // The one cache-health report (what the indicators and /health read) is degraded, with the reason.
      const report = new CacheHealthReport(c.cache, { l1MaxBytes: 1024 * 1024 });
      expect(report.snapshot()).toMatchObject({
        status: 'degraded',
        reasons: ['file_store_down: not a directory (ENOTDIR)'],
      });
      expect((await c.cache.getCacheStatistics()).health).toMatchObject({ status: 'down' });
    });

    it('an injected ENOSPC: degraded (rejecting writes) on the failing write itself, reads still served, up once a write succeeds', async () => {
      const { fs, full } = fullDisk();
      const store = await connected({ fs, healthProbeIntervalMs: 0 });
      expect(store.describe()).toMatchObject({ status: 'up', ready: true });
      expect(await store.set('mc:quotes:a', 'v', 60_000)).toBe(true);

      full.on = true;
      expect(await store.set('mc:quotes:b', 'v', 60_000)).toBe(false);
      // No probe, no wait: the failed write itself turned the state.
      expect(store.describe()).toMatchObject({
        status: 'degraded',
        ready: true,
        reasons: ['file_store_rejecting_writes: disk full (ENOSPC)'],
      });
      expect(await store.get('mc:quotes:a')).toBe('v');

      full.on = false;
      expect(await store.set('mc:quotes:c', 'v', 60_000)).toBe(true);
      expect(store.describe()).toMatchObject({ status: 'up', ready: true });
      expect(store.describe().reasons).toBeUndefined();
    });

    it('ENOSPC at start is found by the connect probe; the background probe sees a disk fill and empty without traffic', async () => {
      const { fs, full } = fullDisk();
      full.on = true;
      const store = await connected({ fs, healthProbeIntervalMs: 20 });
      expect(store.describe()).toMatchObject({
        status: 'degraded',
        reasons: ['file_store_rejecting_writes: disk full (ENOSPC)'],
      });
      full.on = false;
      await waitFor(() => store.describe().status === 'up', 5000);
      full.on = true;
      await waitFor(() => store.describe().status === 'degraded', 5000);
      expect(await store.getHealth()).toMatchObject({ status: 'down' });
    });

    it('a directory unusable at start is loaded by the background probe once it comes back', async () => {
      const blocker = path.join(sandbox, 'blocker');
      await fsp.writeFile(blocker, 'x');
      const store = await connected({ directory: blocker, healthProbeIntervalMs: 20 });
      expect(store.describe().status).toBe('down');
      await fsp.rm(blocker);
      await waitFor(() => store.describe().status === 'up', 5000);
      expect(await store.set('mc:quotes:a', 'v', 60_000)).toBe(true);
      expect(await store.get('mc:quotes:a')).toBe('v');
    });
  });

  describe('non-regular files in the cache folder', () => {
    it('a FIFO named like an entry does not delay start-up beyond a second; it is skipped, not removed; real entries load', async () => {
      const first = await connected();
      await first.set('mc:quotes:good', 'ok', 60_000);
      await first.disconnect();

      const quotes = path.join(dir, 'quotes');
      const fifo = path.join(quotes, `${hashKey('mc:quotes:fifo')}.entry`);
      const made = spawnSync('mkfifo', [fifo]);
      expect(made.status).toBe(0);
      const folder = path.join(quotes, `${hashKey('mc:quotes:folder')}.entry`);
      await fsp.mkdir(folder);

      const store = new FileStore({ directory: dir, cleanupIntervalMs: 0 });
      stores.push(store);
      const outcome = await within(store.connect(), 1000);
      // Should start-up hang on the FIFO, open its write end so that the test can end and report.
      if (outcome === 'timed out') await (await fsp.open(fifo, 'w')).close();
      expect(outcome).toBeUndefined();
      expect(await store.get('mc:quotes:good')).toBe('ok');
      expect(await store.keys('*')).toEqual(['mc:quotes:good']);
      expect((await fsp.lstat(fifo)).isFIFO()).toBe(true);
      expect((await fsp.lstat(folder)).isDirectory()).toBe(true);
      expect(store.getStats().errors).toBe(0);
      expect(store.describe().status).toBe('up');
    });
  });

  describe('caps are settings', () => {
    it('maxEntries caps the whole store: the least recently used entry of any category goes', async () => {
      let clock = 1_700_000_000_000;
      const store = await connected({ maxEntries: 3, now: () => clock });
      for (const key of ['mc:a:1', 'mc:b:1', 'mc:a:2']) {
        clock += 1000;
        await store.set(key, 'v', 600_000);
      }
      clock += 1000;
      expect(await store.get('mc:a:1')).toBe('v'); // now the most recently used
      clock += 1000;
      await store.set('mc:c:1', 'v', 600_000);
      expect((await store.keys('*')).sort()).toEqual(['mc:a:1', 'mc:a:2', 'mc:c:1']);
      expect(store.getStats().evictions).toBe(1);
    });

    it('maxBytes caps the bytes of the whole store', async () => {
      const store = await connected({ maxBytes: 2500 });
      for (let i = 0; i < 5; i++) await store.set(`mc:cat${i}:k`, 'x'.repeat(1000), 600_000);
      const totals = await store.getHealth();
      expect(totals.bytes).toBeLessThanOrEqual(2500);
      expect(totals.entries).toBe(2);
      expect((await store.keys('*')).sort()).toEqual(['mc:cat3:k', 'mc:cat4:k']);
    });

    it('the environment sets the caps through the app config (per category and total)', async () => {
      const config = loadAppConfig({
        CACHE_DRIVER: 'file',
        CACHE_FILE_DIR: dir,
        CACHE_FILE_MAX_ENTRIES_PER_CATEGORY: '2',
        CACHE_FILE_MAX_ENTRIES: '3',
      });
      expect(config.cache.fileCaps).toEqual({ maxEntriesPerCategory: 2, maxEntries: 3 });
      const c = await context(config.cache);
      const store = c.store as FileStore;
      for (let i = 0; i < 4; i++) await store.set(`mc:stock_price:t${i}:latest`, 'v', 600_000);
      expect(store.getCategoryStats().stock_price.entries).toBe(2);
      for (let i = 0; i < 3; i++) await store.set(`mc:news_data:t${i}:all`, 'v', 600_000);
      const categories = store.getCategoryStats();
      expect(categories.stock_price.entries + categories.news_data.entries).toBe(3);
    });

    it('bad cap settings stop start-up with an error naming the variable or option', async () => {
      for (const [name, value] of [
        ['CACHE_FILE_MAX_ENTRIES_PER_CATEGORY', '0'],
        ['CACHE_FILE_MAX_BYTES_PER_CATEGORY', 'lots'],
        ['CACHE_FILE_MAX_ENTRIES', '-1'],
        ['CACHE_FILE_MAX_BYTES', '1.5'],
      ]) {
        expect(() => loadAppConfig({ [name]: value })).toThrow(
          expect.objectContaining({ field: name }),
        );
      }
      await expect(
        context({ driver: 'file', fileDirectory: dir, fileCaps: { maxEntries: -1 } }),
      ).rejects.toMatchObject({ field: 'maxEntries' });
      await expect(
        context({ driver: 'file', fileDirectory: dir, fileCaps: { bogus: 1 } as never }),
      ).rejects.toMatchObject({ field: 'fileCaps.bogus' });
    });
  });
});
