/**
 * File tier benchmark: `FileStore.get` of a warm 1 KB entry against the floor, a raw
 * `fs.promises.readFile` of a file of the same size on the same disk. Runs in a temporary directory.
 * Alone: `npx tsc -p tsconfig.bench.json && node dist-bench/bench/file-store.bench.js`.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStore } from '../src/cache/stores/file/file-store.js';
import { measure, quotePayload, runBenchScript, type BenchRow } from './lib.js';

const SECTION = 'file-store';
/** Timed operations per line. */
const OPS = 20_000;

/** Rows of the `file-store` section: the raw read first, then `FileStore.get`. */
export async function runFileStoreBench(): Promise<BenchRow[]> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'file-store-bench-'));
  const directory = path.join(root, 'cache');
  const store = new FileStore({ directory, cleanupIntervalMs: 0 });
  try {
    await store.connect();
    const key = 'bench:stock_price:7203:latest';
    const value = JSON.stringify(quotePayload(1024));
    if (!(await store.set(key, value, 3_600_000)))
      throw new Error('FileStore could not store the benchmark value');

    // The raw file has the entry file's size (value + header line), so both read the same bytes.
    const categoryDir = path.join(directory, 'stock_price');
    const [entryName] = await fsp.readdir(categoryDir);
    const { size } = await fsp.stat(path.join(categoryDir, entryName));
    const rawFile = path.join(root, 'raw.bin');
    await fsp.writeFile(rawFile, Buffer.alloc(size, 0x78));

    const raw = await measure(
      SECTION,
      'fs.promises.readFile (raw, same size)',
      () => fsp.readFile(rawFile),
      { ops: OPS },
    );
    raw.note = `${size} B file, awaited one at a time`;
    const get = await measure(
      SECTION,
      'FileStore.get (warm 1 KB key)',
      async () => {
        if ((await store.get(key)) === undefined) throw new Error('FileStore missed a warm key');
      },
      { ops: OPS },
    );
    get.note = 'index lookup + readFile + header/length check + UTF-8 decode';
    return [raw, get];
  } finally {
    await store.disconnect();
    await fsp.rm(root, { recursive: true, force: true });
  }
}

runBenchScript(import.meta.url, runFileStoreBench);
