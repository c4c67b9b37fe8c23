import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { CacheValidationError } from '../../src/cache/errors/cache-errors.js';
import {
  FileStore,
  type FileStoreFs,
  type FileStoreOptions,
} from '../../src/cache/stores/file/file-store.js';

/** The real file system, spelled out so that tests can override single calls. */
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

/** Every file under `root`, as paths relative to it (directories end with `/`). */
async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
      const rel = path.relative(root, path.join(dir, d.name));
      if (d.isDirectory()) {
        out.push(rel + '/');
        await visit(path.join(dir, d.name));
      } else {
        out.push(rel);
      }
    }
  };
  await visit(root);
  return out.sort();
}

/** Silences and records the store's log lines. */
const spyWarn = () => jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);

describe('FileStore (integration, real files)', () => {
  /** A fresh sandbox per test; the store's directory is `<sandbox>/cache`, so the sandbox is its "outside". */
  let sandbox: string;
  let dir: string;
  let clock: number;
  const now = (): number => clock;
  let stores: FileStore[];
  let warn: ReturnType<typeof spyWarn>;

  const make = (options: Partial<FileStoreOptions> = {}): FileStore => {
    const store = new FileStore({ directory: dir, cleanupIntervalMs: 0, now, ...options });
    stores.push(store);
    return store;
  };
  const connected = async (options: Partial<FileStoreOptions> = {}): Promise<FileStore> => {
    const store = make(options);
    await store.connect();
    return store;
  };
  const entryFiles = async (): Promise<string[]> =>
    (await walk(dir)).filter((f) => f.endsWith('.entry'));
  const tmpFiles = async (): Promise<string[]> =>
    (await walk(dir)).filter((f) => f.endsWith('.tmp'));

  beforeEach(async () => {
    sandbox = await fsp.mkdtemp(path.join(os.tmpdir(), 'file-store-test-'));
    // Nested, so that a key escaping by a few `..` would land inside the sandbox where the tests look.
    dir = path.join(sandbox, 'l1', 'l2', 'l3', 'cache');
    clock = 1_700_000_000_000;
    stores = [];
    warn = spyWarn();
  });

  afterEach(async () => {
    try {
      await Promise.all(stores.map((s) => s.disconnect()));
    } finally {
      warn?.mockRestore();
      await fsp.rm(sandbox, { recursive: true, force: true });
    }
  });

  describe('options and arguments', () => {
    it.each<[string, Partial<FileStoreOptions>]>([
      ['directory', { directory: '' }],
      ['maxConcurrentIo', { maxConcurrentIo: 0 }],
      ['maxConcurrentIo', { maxConcurrentIo: 1.5 }],
      ['maxEntriesPerCategory', { maxEntriesPerCategory: -1 }],
      ['maxBytesPerCategory', { maxBytesPerCategory: Number.NaN }],
      ['cleanupIntervalMs', { cleanupIntervalMs: -5 }],
      ['cleanupIntervalMs', { cleanupIntervalMs: Number.POSITIVE_INFINITY }],
      ['categoryOf', { categoryOf: 'x' as unknown as (key: string) => string }],
      ['fs', { fs: { readFile: realFs.readFile } as unknown as FileStoreFs }],
      ['now', { now: 5 as unknown as () => number }],
    ])('rejects a bad %s with a CacheValidationError naming it', (field, bad) => {
      let thrown: unknown;
      try {
        new FileStore({ directory: dir, ...bad });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(CacheValidationError);
      expect((thrown as CacheValidationError).field).toBe(field);
      expect((thrown as CacheValidationError).code).toBe('CACHE_INVALID_OPTION');
    });

    it('rejects a non-positive or non-finite ttlMs on every method that takes one', async () => {
      const store = await connected();
      for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(store.set('k', 'v', ttl)).rejects.toMatchObject({ field: 'ttlMs' });
        await expect(store.expire('k', ttl)).rejects.toBeInstanceOf(CacheValidationError);
        await expect(store.increment('k', ttl)).rejects.toBeInstanceOf(CacheValidationError);
        await expect(store.acquireLock('k', 't', ttl)).rejects.toBeInstanceOf(CacheValidationError);
        await expect(
          store.pipelineSet([
            { key: 'a', value: '1', ttlMs: 1000 },
            { key: 'k', value: 'v', ttlMs: ttl },
          ]),
        ).rejects.toBeInstanceOf(CacheValidationError);
      }
      // pipelineSet validated everything before writing anything.
      expect(await store.exists('a')).toBe(false);
    });
  });

  describe('basic operations', () => {
    it('stores, reads, reports TTL in ms and deletes', async () => {
      const store = await connected();
      expect(await store.set('mc:stock_price:7203:latest', '{"close":190.33}', 60_000)).toBe(true);
      expect(await store.get('mc:stock_price:7203:latest')).toBe('{"close":190.33}');
      expect(await store.exists('mc:stock_price:7203:latest')).toBe(true);
      expect(await store.ttl('mc:stock_price:7203:latest')).toBe(60_000);
      clock += 1_500;
      expect(await store.ttl('mc:stock_price:7203:latest')).toBe(58_500);
      expect(await store.ttl('missing')).toBe(-2);
      expect(await store.delete('mc:stock_price:7203:latest')).toBe(true);
      expect(await store.delete('mc:stock_price:7203:latest')).toBe(false);
      expect(await store.get('mc:stock_price:7203:latest')).toBeUndefined();
      expect(await entryFiles()).toEqual([]);
      expect(store.getStats()).toMatchObject({ hits: 1, misses: 1, errors: 0 });
    });

    it('keeps unicode and empty values intact, one file per key under <category>/<sha256>.entry', async () => {
      const store = await connected();
      await store.set('mc:news_data:7203:earnings', 'Résultats 決算 📈', 60_000);
      await store.set('plain-key', '', 60_000);
      expect(await store.get('mc:news_data:7203:earnings')).toBe('Résultats 決算 📈');
      expect(await store.get('plain-key')).toBe('');
      const files = await entryFiles();
      expect(files).toHaveLength(2);
      expect(files.some((f) => /^news_data\/[0-9a-f]{64}\.entry$/.test(f))).toBe(true);
      expect(files.some((f) => /^default\/[0-9a-f]{64}\.entry$/.test(f))).toBe(true);
    });

    it('expires entries on the injected clock, and removes the file', async () => {
      const store = await connected();
      await store.set('mc:quotes:a', 'v', 1_000);
      clock += 999;
      expect(await store.get('mc:quotes:a')).toBe('v');
      clock += 1;
      expect(await store.get('mc:quotes:a')).toBeUndefined();
      expect(await store.exists('mc:quotes:a')).toBe(false);
      expect(await store.ttl('mc:quotes:a')).toBe(-2);
      await store.disconnect(); // waits for the background removal
      expect(await entryFiles()).toEqual([]);
      expect(store.getStats().expired).toBe(1);
    });

    it('expire() resets the TTL of an existing key (persisted in the header) and answers false for a missing one', async () => {
      const store = await connected();
      await store.set('mc:quotes:a', 'v', 1_000);
      expect(await store.expire('mc:quotes:a', 120_000)).toBe(true);
      expect(await store.expire('mc:quotes:nope', 120_000)).toBe(false);
      clock += 5_000;
      expect(await store.get('mc:quotes:a')).toBe('v');
      expect(await store.ttl('mc:quotes:a')).toBe(115_000);
      await store.disconnect();
      const again = await connected();
      expect(await again.ttl('mc:quotes:a')).toBe(115_000);
    });

    it('pipelineGet answers in order with undefined for misses; pipelineSet stores all', async () => {
      const store = await connected();
      expect(
        await store.pipelineSet([
          { key: 'mc:quotes:a', value: '1', ttlMs: 60_000 },
          { key: 'mc:quotes:b', value: '2', ttlMs: 60_000 },
          { key: 'mc:news:c', value: '3', ttlMs: 60_000 },
        ]),
      ).toBe(true);
      expect(
        await store.pipelineGet(['mc:quotes:b', 'mc:quotes:zz', 'mc:news:c', 'mc:quotes:a']),
      ).toEqual(['2', undefined, '3', '1']);
    });
  });

  describe('restart', () => {
    it('reads back values written before a restart, not the expired ones, and removes those', async () => {
      const first = await connected();
      await first.set('mc:stock_price:7203:latest', 'kept', 3_600_000);
      await first.set('mc:news_data:7203:earnings', 'kept too', 3_600_000);
      await first.set('mc:stock_price:6758:latest', 'short-lived', 1_000);
      await first.disconnect();
      expect(await entryFiles()).toHaveLength(3);

      clock += 2_000;
      const second = await connected();
      // connect() itself removed the expired file, before any read.
      expect(await entryFiles()).toHaveLength(2);
      expect(second.getStats().expired).toBe(1);
      expect(second.getCategoryStats().stock_price.entries).toBe(1);
      expect(await second.get('mc:stock_price:7203:latest')).toBe('kept');
      expect(await second.get('mc:news_data:7203:earnings')).toBe('kept too');
      expect(await second.ttl('mc:stock_price:7203:latest')).toBe(3_598_000);
      expect(await second.get('mc:stock_price:6758:latest')).toBeUndefined();
      expect(await second.keys('*')).toEqual(
        expect.arrayContaining(['mc:stock_price:7203:latest', 'mc:news_data:7203:earnings']),
      );
    });

    it('rebuilds the index from header lines only (file handles, never a whole-file read)', async () => {
      const first = await connected();
      for (let i = 0; i < 20; i++) await first.set(`mc:quotes:k${i}`, 'x'.repeat(100_000), 60_000);
      await first.disconnect();

      const readFile = jest.fn(realFs.readFile);
      const reads: number[] = [];
      const open: FileStoreFs['open'] = async (file, flags) => {
        const handle = await fsp.open(file, flags);
        return {
          stat: () => handle.stat(),
          close: () => handle.close(),
          read: async (buffer, offset, length, position) => {
            reads.push(length);
            return handle.read(buffer, offset, length, position);
          },
        };
      };
      const second = await connected({ fs: { ...realFs, readFile, open } });
      expect(readFile).not.toHaveBeenCalled();
      expect(reads).toHaveLength(20);
      expect(Math.max(...reads)).toBeLessThanOrEqual(4096);
      expect(second.getCategoryStats().quotes).toMatchObject({ entries: 20 });
      expect(second.getCategoryStats().quotes.bytes).toBeGreaterThan(20 * 100_000);
    });

    it('removes corrupt files found at start-up and counts them', async () => {
      const first = await connected();
      await first.set('mc:quotes:good', 'ok', 60_000);
      await first.set('mc:quotes:truncated', 'y'.repeat(1000), 60_000);
      await first.disconnect();
      const quotes = path.join(dir, 'quotes');
      // Truncate one entry, add garbage named like an entry, and a file whose header names another key.
      const files = await fsp.readdir(quotes);
      const target = await (async () => {
        for (const f of files) {
          const text = await fsp.readFile(path.join(quotes, f), 'utf8');
          if (text.includes('"mc:quotes:truncated"')) return f;
        }
        throw new Error('entry not found');
      })();
      const full = await fsp.readFile(path.join(quotes, target));
      await fsp.writeFile(path.join(quotes, target), full.subarray(0, full.length - 10));
      await fsp.writeFile(path.join(quotes, 'a'.repeat(64) + '.entry'), 'not a header at all');
      await fsp.writeFile(
        path.join(quotes, 'b'.repeat(64) + '.entry'),
        `{"v":1,"k":"mc:quotes:other","e":${clock + 60_000},"n":1}\nz`,
      );

      const second = await connected();
      expect(await second.get('mc:quotes:good')).toBe('ok');
      expect(await second.get('mc:quotes:truncated')).toBeUndefined();
      expect(second.getStats()).toMatchObject({ corrupt: 3, errors: 3 });
      expect(await entryFiles()).toHaveLength(1);
    });
  });

  describe('concurrency and atomic writes', () => {
    it('50 concurrent writers to one key (two owners, slow chunked disk) leave one complete value; concurrent readers never see a mix', async () => {
      // A disk that writes 8 KiB at a time and yields in between, so that writes overlap each other and the reads.
      const writeFile: FileStoreFs['writeFile'] = async (file, data, options) => {
        const handle = await fsp.open(file, options.flag);
        try {
          for (let off = 0; off < data.length; off += 8192) {
            await handle.write(data, off, Math.min(8192, data.length - off), off);
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
        } finally {
          await handle.close();
        }
      };
      const slow: FileStoreFs = { ...realFs, writeFile };
      const a = await connected({ fs: slow });
      const b = await connected({ fs: slow }); // a second owner bypasses the in-process per-key ordering: only rename protects the file
      const values = Array.from({ length: 50 }, (_, i) =>
        JSON.stringify({
          writer: i,
          pad: String.fromCharCode(65 + (i % 26)).repeat(40 * 1024 + i),
        }),
      );
      const valid = new Set(values);

      let writing = true;
      const seen: (string | undefined)[] = [];
      const reader = async (s: FileStore): Promise<void> => {
        while (writing) {
          seen.push(await s.get('mc:quotes:hot'));
          // A miss answered from the index never leaves the microtask queue: yield so that I/O can progress.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      };
      const readers = [reader(a), reader(b), reader(a)];
      const writes = await Promise.all(
        values.map((v, i) => (i % 2 === 0 ? a : b).set('mc:quotes:hot', v, 60_000)),
      );
      writing = false;
      await Promise.all(readers);

      expect(writes).toEqual(values.map(() => true));
      expect(seen.filter((r) => r !== undefined).length).toBeGreaterThan(0);
      for (const r of seen) if (r !== undefined) expect(valid.has(r)).toBe(true);
      for (const s of [a, b]) {
        const after = await s.get('mc:quotes:hot');
        expect(after !== undefined && valid.has(after)).toBe(true);
      }
      expect(a.getStats().corrupt + b.getStats().corrupt).toBe(0);
      expect(await entryFiles()).toHaveLength(1);

      // A fresh owner reads one complete value too, and after a sweep no temp file remains.
      await a.disconnect();
      await b.disconnect();
      const c = await connected();
      const final = await c.get('mc:quotes:hot');
      expect(final !== undefined && valid.has(final)).toBe(true);
      await c.sweep();
      expect(await tmpFiles()).toEqual([]);
    });

    it('sweep removes orphaned temp files older than 60 s but not fresh ones (a write may own them); connect removes all', async () => {
      const store = await connected();
      await store.set('mc:quotes:a', 'v', 60_000);
      const quotes = path.join(dir, 'quotes');
      const old = path.join(quotes, `${'c'.repeat(64)}.deadbeef.tmp`);
      const fresh = path.join(quotes, `${'d'.repeat(64)}.cafebabe.tmp`);
      await fsp.writeFile(old, 'partial');
      await fsp.writeFile(fresh, 'in flight');
      const past = new Date(Date.now() - 120_000);
      await fsp.utimes(old, past, past);

      expect(await store.sweep()).toEqual({ expired: 0, orphans: 1 });
      expect((await tmpFiles()).map((f) => path.basename(f))).toEqual([path.basename(fresh)]);
      await store.disconnect();
      await connected();
      expect(await tmpFiles()).toEqual([]);
    });

    it('sweep removes expired entries; one sweep runs at a time', async () => {
      const store = await connected();
      for (let i = 0; i < 10; i++) await store.set(`mc:quotes:k${i}`, 'v', i < 4 ? 1_000 : 60_000);
      clock += 1_000;
      const [s1, s2] = [store.sweep(), store.sweep()];
      expect(s1).toBe(s2);
      expect(await s1).toEqual({ expired: 4, orphans: 0 });
      expect(await entryFiles()).toHaveLength(6);
      expect(store.getCategoryStats().quotes.entries).toBe(6);
    });

    it('the cleanup interval sweeps on its own and disconnect stops it', async () => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
      try {
        const store = await connected({ cleanupIntervalMs: 1_000 });
        const sweep = jest.spyOn(store, 'sweep');
        jest.advanceTimersByTime(3_000);
        expect(sweep).toHaveBeenCalledTimes(3);
        await store.disconnect();
        jest.advanceTimersByTime(3_000);
        expect(sweep).toHaveBeenCalledTimes(3);
      } finally {
        jest.useRealTimers();
      }
    });

    it('increment is atomic within the process, keeps the first TTL, and refuses non-integers', async () => {
      const store = await connected();
      const results = await Promise.all(
        Array.from({ length: 40 }, () => store.increment('mc:api_quota:user1:daily', 10_000)),
      );
      expect(results.map((r) => r?.value).sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual(
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      expect(await store.get('mc:api_quota:user1:daily')).toBe('40');
      clock += 4_000;
      expect(await store.increment('mc:api_quota:user1:daily', 10_000)).toEqual({
        value: 41,
        ttlMs: 6_000,
      });
      clock += 6_000;
      expect(await store.increment('mc:api_quota:user1:daily', 10_000)).toEqual({
        value: 1,
        ttlMs: 10_000,
      });
      await store.set('mc:api_quota:text', 'abc', 10_000);
      expect(await store.increment('mc:api_quota:text', 10_000)).toBeUndefined();
      expect(await store.get('mc:api_quota:text')).toBe('abc');
    });
  });

  describe('caps and eviction', () => {
    it('a category capped at 100 entries holds 100 after 150 inserts, evicting the least recently read', async () => {
      const store = await connected({ maxEntriesPerCategory: 100 });
      for (let i = 0; i < 100; i++) await store.set(`mc:quotes:k${i}`, `v${i}`, 60_000);
      await store.set('mc:news:other', 'other category', 60_000);
      for (let i = 0; i < 10; i++) expect(await store.get(`mc:quotes:k${i}`)).toBe(`v${i}`); // k0..k9 become recent
      for (let i = 100; i < 150; i++) await store.set(`mc:quotes:k${i}`, `v${i}`, 60_000);

      expect(store.getCategoryStats().quotes.entries).toBe(100);
      expect(store.getStats().evictions).toBe(50);
      for (let i = 0; i < 10; i++) expect(await store.exists(`mc:quotes:k${i}`)).toBe(true);
      for (let i = 10; i < 60; i++) expect(await store.exists(`mc:quotes:k${i}`)).toBe(false);
      for (let i = 60; i < 150; i++) expect(await store.exists(`mc:quotes:k${i}`)).toBe(true);
      expect(await store.get('mc:quotes:k10')).toBeUndefined();
      expect(await store.get('mc:quotes:k149')).toBe('v149');
      expect(await store.get('mc:news:other')).toBe('other category'); // other categories are untouched

      await store.disconnect(); // evictions delete files in the background; disconnect waits for them
      expect((await entryFiles()).filter((f) => f.startsWith('quotes/'))).toHaveLength(100);
    });

    it('caps bytes per category and refuses a value larger than the cap', async () => {
      const store = await connected({ maxBytesPerCategory: 10_000 });
      for (let i = 0; i < 30; i++)
        expect(await store.set(`mc:quotes:k${i}`, 'x'.repeat(1_000), 60_000)).toBe(true);
      const stats = store.getCategoryStats().quotes;
      expect(stats.bytes).toBeLessThanOrEqual(10_000);
      expect(stats.entries).toBe(9); // 1,000 B value + ~60 B header each
      expect(await store.get('mc:quotes:k29')).toBe('x'.repeat(1_000));
      expect(await store.set('mc:quotes:huge', 'x'.repeat(20_000), 60_000)).toBe(false);
      expect(await store.exists('mc:quotes:huge')).toBe(false);
    });
  });

  describe('faults are misses, never throws', () => {
    it('a truncated file is a counted miss and is removed', async () => {
      const store = await connected();
      await store.set('mc:quotes:a', 'z'.repeat(500), 60_000);
      const [file] = await entryFiles();
      const full = path.join(dir, file);
      await fsp.truncate(full, (await fsp.stat(full)).size - 100);

      expect(await store.get('mc:quotes:a')).toBeUndefined();
      expect(store.getStats()).toMatchObject({ hits: 0, misses: 1, corrupt: 1, errors: 1 });
      expect(store.getCategoryStats().quotes).toMatchObject({ entries: 0, misses: 1, errors: 1 });
      await store.disconnect();
      expect(await entryFiles()).toEqual([]);
    });

    it('a file whose header is garbage or names another key is a counted miss', async () => {
      const store = await connected();
      await store.set('mc:quotes:a', 'v', 60_000);
      await store.set('mc:quotes:b', 'v', 60_000);
      const files = await entryFiles();
      await fsp.writeFile(path.join(dir, files[0]), '\u0000\u0001 binary junk');
      await fsp.writeFile(
        path.join(dir, files[1]),
        `{"v":1,"k":"mc:quotes:zzz","e":${clock + 60_000},"n":1}\nv`,
      );
      expect(await store.pipelineGet(['mc:quotes:a', 'mc:quotes:b'])).toEqual([
        undefined,
        undefined,
      ]);
      expect(store.getStats()).toMatchObject({ corrupt: 2, misses: 2 });
    });

    it('ENOSPC on write: set answers false, get misses, the partial temp file is removed, logs are rate-limited and carry no key or value', async () => {
      let full = false;
      const writeFile: FileStoreFs['writeFile'] = async (file, data, options) => {
        if (!full) return fsp.writeFile(file, data, options);
        await fsp.writeFile(file, data.subarray(0, Math.floor(data.length / 2)), options); // a partial write, then the disk is full
        throw errno('ENOSPC', 'write');
      };
      const store = await connected({ fs: { ...realFs, writeFile } });
      await store.set('mc:quotes:before', 'old', 60_000);
      full = true;
      for (let i = 0; i < 5; i++)
        expect(await store.set(`mc:quotes:secret-key-${i}`, 'secret-value', 60_000)).toBe(false);
      expect(await store.set('mc:quotes:before', 'new', 60_000)).toBe(false);
      expect(await store.get('mc:quotes:secret-key-0')).toBeUndefined();
      expect(await store.get('mc:quotes:before')).toBe('old'); // a failed overwrite leaves the previous value
      expect(await store.increment('mc:quotes:counter', 1_000)).toBeUndefined();
      expect(store.getStats().errors).toBe(7);
      expect(await tmpFiles()).toEqual([]);

      const lines = warn.mock.calls.map((c: unknown[]) => String(c[0]));
      expect(lines.filter((l) => l.includes('ENOSPC'))).toHaveLength(1);
      expect(lines.join('\n')).not.toMatch(/secret|before|old/);
      const later = Date.now() + 10_000; // the log limiter runs on the wall clock
      const wallClock = jest.spyOn(Date, 'now').mockReturnValue(later);
      try {
        await store.set('mc:quotes:x', 'v', 60_000);
      } finally {
        wallClock.mockRestore();
      }
      const again = warn.mock.calls
        .map((c: unknown[]) => String(c[0]))
        .filter((l) => l.includes('ENOSPC'));
      expect(again).toHaveLength(2);
      expect(again[1]).toContain('6 similar suppressed');
    });

    it('EROFS: writes answer false, reads of older entries still work, deletes do not throw, health is down', async () => {
      const first = await connected();
      await first.set('mc:quotes:a', 'v', 60_000);
      await first.disconnect();

      const erofs = (syscall: string) => async (): Promise<never> => {
        throw errno('EROFS', syscall);
      };
      const store = await connected({
        fs: {
          ...realFs,
          writeFile: erofs('open'),
          rename: erofs('rename'),
          unlink: erofs('unlink'),
        },
      });
      expect(await store.get('mc:quotes:a')).toBe('v');
      expect(await store.set('mc:quotes:b', 'v', 60_000)).toBe(false);
      expect(await store.get('mc:quotes:b')).toBeUndefined();
      expect(await store.pipelineSet([{ key: 'mc:quotes:c', value: 'v', ttlMs: 1_000 }])).toBe(
        false,
      );
      expect(await store.expire('mc:quotes:a', 1_000)).toBe(false);
      expect(await store.delete('mc:quotes:a')).toBe(false); // the file could not be removed...
      expect(await store.get('mc:quotes:a')).toBeUndefined(); // ...but it is no longer served
      expect(await store.flushPattern('*')).toBe(0);
      const health = await store.getHealth();
      expect(health).toMatchObject({ status: 'down', kind: 'file' });
      expect(health.reason).toContain('EROFS');
      expect(store.getStats().errors).toBeGreaterThanOrEqual(4);
    });

    it('a read error (EIO) is a counted miss that keeps the file; an unusable directory at connect resolves and reports down', async () => {
      let broken = false;
      const readFile: FileStoreFs['readFile'] = async (file) => {
        if (broken) throw errno('EIO', 'read');
        return fsp.readFile(file);
      };
      const store = await connected({ fs: { ...realFs, readFile } });
      await store.set('mc:quotes:a', 'v', 60_000);
      broken = true;
      expect(await store.get('mc:quotes:a')).toBeUndefined();
      expect(store.getStats()).toMatchObject({ misses: 1, errors: 1, corrupt: 0 });
      broken = false;
      expect(await store.get('mc:quotes:a')).toBe('v');

      const blocked = make({
        directory: path.join(sandbox, 'nope'),
        fs: { ...realFs, mkdir: async () => Promise.reject(errno('EACCES', 'mkdir')) },
      });
      await expect(blocked.connect()).resolves.toBeUndefined();
      expect(await blocked.set('mc:quotes:a', 'v', 1_000)).toBe(false);
      expect(await blocked.getHealth()).toMatchObject({ status: 'down', connected: false });
    });
  });

  describe('keys and paths', () => {
    it('keys that look like paths stay inside the directory', async () => {
      const store = await connected({
        categoryOf: (key) => (key.startsWith('cat:') ? key.slice(4) : 'default'),
      });
      const evil = [
        '../x',
        '/etc/passwd',
        'a/../../b',
        '..',
        '.',
        'mc:..:x',
        'mc:../../..:y',
        'mc:../../../../escape:z',
        'cat:../../../../escape',
        'cat:/etc',
        'cat:..',
        '\u0000nul',
        'C:\\Windows\\x',
      ];
      for (const key of evil) expect(await store.set(key, `value of ${key}`, 60_000)).toBe(true);
      for (const key of evil) expect(await store.get(key)).toBe(`value of ${key}`);

      // Nothing was created next to the directory or above it (up to the sandbox).
      expect((await walk(sandbox)).filter((f) => !f.startsWith('l1/l2/l3/cache/'))).toEqual([
        'l1/',
        'l1/l2/',
        'l1/l2/l3/',
      ]);
      for (const f of await walk(dir)) {
        expect(f).toMatch(/^[a-z0-9_-]+\/$|^[a-z0-9_-]+\/[0-9a-f]{64}\.entry$/);
        expect(path.resolve(dir, f).startsWith(dir + path.sep)).toBe(true);
      }
      expect((await store.keys('*')).sort()).toEqual([...evil].sort());
    });

    it('a categoryOf that throws puts the key in the default category, counts it, and never breaks connect', async () => {
      const categoryOf = (key: string): string => {
        if (key.startsWith('boom')) throw new Error('bad category function');
        return 'fine';
      };
      const store = await connected({ categoryOf });
      expect(await store.set('boom:1', 'v', 60_000)).toBe(true);
      expect(await store.get('boom:1')).toBe('v');
      expect(store.getCategoryStats().default.entries).toBe(1);
      expect(store.getStats().errors).toBeGreaterThan(0);
      await store.disconnect();
      const again = await connected({ categoryOf });
      expect(await again.get('boom:1')).toBe('v');
    });

    it('keys() and flushPattern() match globs: *, ?, [set], [a-z], [^x] and \\ escapes', async () => {
      const store = await connected();
      const all = [
        'mc:quotes:AAPL',
        'mc:quotes:AAPX',
        'mc:quotes:MSFT',
        'mc:news:AAPL',
        'mc:quotes:a*b',
        'mc:quotes:axb',
        'mc:quotes:a?b',
      ];
      for (const k of all) await store.set(k, 'v', 60_000);
      const keys = async (p: string): Promise<string[]> => (await store.keys(p)).sort();
      expect(await keys('mc:quotes:*')).toEqual(
        all.filter((k) => k.startsWith('mc:quotes:')).sort(),
      );
      expect(await keys('*:AAPL')).toEqual(['mc:news:AAPL', 'mc:quotes:AAPL']);
      expect(await keys('mc:quotes:AAP?')).toEqual(['mc:quotes:AAPL', 'mc:quotes:AAPX']);
      expect(await keys('mc:quotes:AAP[LM]')).toEqual(['mc:quotes:AAPL']);
      expect(await keys('mc:quotes:AAP[^L]')).toEqual(['mc:quotes:AAPX']);
      expect(await keys('mc:quotes:[A-M]*')).toEqual([
        'mc:quotes:AAPL',
        'mc:quotes:AAPX',
        'mc:quotes:MSFT',
      ]);
      expect(await keys('mc:quotes:a\\*b')).toEqual(['mc:quotes:a*b']);
      expect(await keys('mc:quotes:a\\?b')).toEqual(['mc:quotes:a?b']);
      expect(await keys('mc:quotes:a?b')).toEqual([
        'mc:quotes:a*b',
        'mc:quotes:a?b',
        'mc:quotes:axb',
      ]);
      expect(await keys('mc:quotes:a[\\*]b')).toEqual(['mc:quotes:a*b']);
      expect(await keys('mc:quotes:AAPL.')).toEqual([]); // regex metacharacters are literal

      expect(await store.flushPattern('mc:quotes:AAP*', (k) => !k.endsWith('X'))).toBe(1);
      expect(await store.exists('mc:quotes:AAPL')).toBe(false);
      expect(await store.exists('mc:quotes:AAPX')).toBe(true);
      expect(await store.flushPattern('*:AAPL')).toBe(1);
      expect(await store.exists('mc:news:AAPL')).toBe(false);
    });
  });

  describe('locks, health and statistics', () => {
    it('acquireLock / releaseLock: busy while held, token-checked release, free after expiry', async () => {
      const store = await connected();
      expect(await store.acquireLock('mc:!lock:a', 'one', 1_000)).toBe('acquired');
      expect(await store.acquireLock('mc:!lock:a', 'two', 1_000)).toBe('busy');
      expect(await store.releaseLock('mc:!lock:a', 'two')).toBe(false);
      expect(await store.releaseLock('mc:!lock:a', 'one')).toBe(true);
      expect(await store.acquireLock('mc:!lock:a', 'two', 1_000)).toBe('acquired');
      clock += 1_000;
      expect(await store.acquireLock('mc:!lock:a', 'three', 1_000)).toBe('acquired');
      expect(await store.releaseLock('mc:!lock:a', 'two')).toBe(false);
    });

    it('getHealth is up with entries and bytes, and probes the disk at most once per 5 s', async () => {
      const writeFile = jest.fn(realFs.writeFile);
      const store = await connected({ fs: { ...realFs, writeFile } });
      await store.set('mc:quotes:a', 'v'.repeat(100), 60_000);
      await store.set('mc:news:b', 'v', 60_000);
      const probes = (): number =>
        writeFile.mock.calls.filter((c) => path.basename(c[0]).startsWith('.probe.')).length;

      const health = await store.getHealth();
      expect(health).toMatchObject({ status: 'up', kind: 'file', connected: true, entries: 2 });
      expect(health.bytes).toBeGreaterThan(101);
      expect(typeof health.latencyMs).toBe('number');
      await Promise.all([store.getHealth(), store.getHealth()]);
      expect(probes()).toBe(1);
      clock += 5_000;
      await store.getHealth();
      expect(probes()).toBe(2);
      // The probes wrote into the store's directory, and removed their files again.
      for (const c of writeFile.mock.calls.filter((w) => path.basename(w[0]).startsWith('.probe.')))
        expect(path.dirname(c[0])).toBe(dir);
      expect((await fsp.readdir(dir)).filter((name) => name.includes('probe'))).toEqual([]);
    });

    it('getCategoryStats reports entries, bytes, hits, misses and errors per category', async () => {
      const store = await connected();
      await store.set('mc:stock_price:7203:latest', '12345', 60_000);
      await store.get('mc:stock_price:7203:latest');
      await store.get('mc:stock_price:6758:latest');
      await store.get('mc:news_data:7203:earnings');
      const stats = store.getCategoryStats();
      expect(stats.stock_price).toEqual({
        entries: 1,
        bytes: expect.any(Number),
        hits: 1,
        misses: 1,
        errors: 0,
      });
      expect(stats.stock_price.bytes).toBe(
        (await fsp.stat(path.join(dir, (await entryFiles())[0]))).size,
      );
      expect(stats.news_data).toEqual({ entries: 0, bytes: 0, hits: 0, misses: 1, errors: 0 });
    });
  });
});
