import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import * as path from 'node:path';
import type { Category, Location } from './category-index.js';
import {
  TMP_SUFFIX,
  MAX_HEADER_BYTES,
  decodeFileRecord,
  scanFileRecordHeader,
  type FileRecordHeader,
  type FileRecordRead,
} from './entry-format.js';
import { errorCode, type FileStoreCounters } from './file-stats.js';
import type { FileStoreFs } from './file-store.options.js';
import type { IoLimiter } from './io-limiter.js';

/** First read of a header at start-up, in bytes; most headers fit. */
const HEADER_PROBE_BYTES = 4096;
/** A temp file older than this (ms, wall clock against its mtime) belongs to no live write. */
const ORPHAN_TMP_AGE_MS = 60_000;
/**
 * Flags of the start-up header reads: read-only, never blocking (opening a FIFO for reading would
 * otherwise wait for a writer forever) and never through a symbolic link. Platforms without a flag
 * get 0 for it.
 */
const HEADER_OPEN_FLAGS =
  constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);

/** False when `st` says it is not a regular file (a FIFO, socket, device or directory). */
function regular(st: { isFile?(): boolean }): boolean {
  return typeof st.isFile !== 'function' || st.isFile();
}

/** The header of an entry file with the file's size in bytes and mtime (ms since the epoch). */
export interface FileRecordHead {
  header: FileRecordHeader;
  size: number;
  mtimeMs: number;
}

/**
 * The files of the store, every operation through the I/O limiter. A write goes to
 * `<hash>.<random>.tmp` in the entry's directory, then `rename`s over the entry (atomic: a reader
 * sees the old or the new value, never a mix). No fsync: after a power loss a file may be short,
 * which the length check of a read turns into a miss. Faults are counted, never thrown, except by
 * `mkdir` and `probe`, whose callers decide.
 */
export class EntryFiles {
  constructor(
    private readonly fs: FileStoreFs,
    private readonly limiter: IoLimiter,
    private readonly counters: FileStoreCounters,
    private readonly now: () => number,
  ) {}

  /** Reads and verifies the entry file of `key` at `loc`. I/O errors other than ENOENT are counted. */
  async read(loc: Location, key: string): Promise<FileRecordRead> {
    let buf: Buffer;
    try {
      buf = await this.limiter.run(() => this.fs.readFile(loc.file));
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return { kind: 'missing' };
      this.counters.fault('read', err, loc.category);
      return { kind: 'error' };
    }
    return decodeFileRecord(buf, key, this.now());
  }

  /** Writes `body` as the entry file of `loc` atomically (temp file + rename). `true` when in place. */
  async write(loc: Location, body: Buffer): Promise<boolean> {
    const cat = loc.category;
    const tmp = path.join(cat.dir, `${loc.hash}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`);
    // 1. The temp file; when the category directory vanished, create it again and retry once.
    for (let attempt = 0; ; attempt++) {
      try {
        if (!cat.dirReady) {
          await this.mkdir(cat.dir);
          cat.dirReady = true;
        }
        await this.limiter.run(() => this.fs.writeFile(tmp, body, { flag: 'wx' }));
        break;
      } catch (err) {
        if (errorCode(err) === 'ENOENT' && attempt === 0) {
          cat.dirReady = false;
          continue;
        }
        this.counters.fault('write', err, cat);
        await this.unlink(tmp, cat);
        return false;
      }
    }
    // 2. The atomic replace.
    try {
      await this.limiter.run(() => this.fs.rename(tmp, loc.file));
      this.counters.writeSucceeded();
      return true;
    } catch (err) {
      this.counters.fault('rename', err, cat);
      await this.unlink(tmp, cat);
      return false;
    }
  }

  /**
   * Reads only the header line of an entry file through a file handle, plus its size and mtime.
   * `'skip'` for anything that is not a regular file (a FIFO, socket, device or directory named
   * like an entry): it is never opened (checked again on the handle, opened non-blocking, in case
   * it was swapped in between), never read and never removed.
   */
  async readHeader(
    file: string,
    cat: Category,
  ): Promise<FileRecordHead | 'corrupt' | 'error' | 'skip'> {
    try {
      return await this.limiter.run(async () => {
        if (!regular(await this.fs.stat(file))) return 'skip';
        const handle = await this.fs.open(file, HEADER_OPEN_FLAGS);
        try {
          const st = await handle.stat();
          if (!regular(st)) return 'skip';
          const { size, mtimeMs } = st;
          let buf = Buffer.alloc(Math.min(HEADER_PROBE_BYTES, Math.max(size, 1)));
          let filled = 0;
          for (;;) {
            const from = filled;
            const { bytesRead } = await handle.read(buf, filled, buf.length - filled, filled);
            filled += bytesRead;
            const header = scanFileRecordHeader(buf, from, filled, size);
            if (header === 'corrupt') return 'corrupt';
            if (header !== 'more') return { header, size, mtimeMs };
            if (bytesRead === 0) return 'corrupt';
            // The header goes on past the buffer: read on into a bigger one.
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
      this.counters.fault('load', err, cat);
      return 'error';
    }
  }

  /** Unlinks a file: `true` when removed, `false` when absent or on error (counted). */
  async unlink(file: string, cat?: Category): Promise<boolean> {
    try {
      await this.limiter.run(() => this.fs.unlink(file));
      return true;
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') this.counters.fault('unlink', err, cat);
      return false;
    }
  }

  /** Names in `dir`; `[]` when it cannot be listed (ENOENT/ENOTDIR silently, other errors counted). */
  async listDir(dir: string): Promise<string[]> {
    try {
      return await this.limiter.run(() => this.fs.readdir(dir));
    } catch (err) {
      const code = errorCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.counters.fault('readdir', err);
      return [];
    }
  }

  /**
   * Names in the directory of `cat`, or `undefined` when it cannot be listed: a plain file with a
   * category-like name (or a vanished one) silently, other errors counted against `cat`.
   */
  async listCategory(cat: Category): Promise<string[] | undefined> {
    try {
      return await this.limiter.run(() => this.fs.readdir(cat.dir));
    } catch (err) {
      const code = errorCode(err);
      if (code !== 'ENOTDIR' && code !== 'ENOENT') this.counters.fault('load', err, cat);
      return undefined;
    }
  }

  /** Removes the temp files of `dir`: all of them, or those older than 60 s. Answers how many. */
  async removeTmpFiles(dir: string, all: boolean): Promise<number> {
    const names = (await this.listDir(dir)).filter((n) => n.endsWith(TMP_SUFFIX));
    const removed = await Promise.all(
      names.map(async (name) => {
        const file = path.join(dir, name);
        if (!all) {
          try {
            const { mtimeMs } = await this.limiter.run(() => this.fs.stat(file));
            if (Date.now() - mtimeMs < ORPHAN_TMP_AGE_MS) return false;
          } catch (err) {
            if (errorCode(err) !== 'ENOENT') this.counters.fault('sweep', err);
            return false;
          }
        }
        return this.unlink(file);
      }),
    );
    return removed.filter(Boolean).length;
  }

  /** Creates `dir` and its parents. @throws the file system's error. */
  async mkdir(dir: string): Promise<void> {
    await this.limiter.run(() => this.fs.mkdir(dir, { recursive: true }));
  }

  /** Writes and removes a tiny temp file in `dir` (a success clears the store's write fault). @throws the file system's error. */
  async probe(dir: string): Promise<void> {
    const file = path.join(dir, `.probe.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`);
    await this.limiter.run(() => this.fs.writeFile(file, Buffer.from('ok'), { flag: 'wx' }));
    await this.limiter.run(() => this.fs.unlink(file));
    this.counters.writeSucceeded();
  }
}
