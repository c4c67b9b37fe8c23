import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStore } from '../../src/cache/stores/file/file-store.js';
import { describeCacheStoreContract } from './cache-store.contract.js';

/** The shared driver contract on a FileStore in a fresh temporary directory (removed afterwards). */
const dirs = new Map<FileStore, string>();

describeCacheStoreContract(
  'FileStore',
  async () => {
    const directory = await fsp.mkdtemp(path.join(os.tmpdir(), 'file-store-contract-'));
    const store = new FileStore({ directory, cleanupIntervalMs: 0 });
    dirs.set(store, directory);
    await store.connect();
    return store;
  },
  async (store) => {
    await store.disconnect();
    const directory = store instanceof FileStore ? dirs.get(store) : undefined;
    if (directory) await fsp.rm(directory, { recursive: true, force: true });
  },
);
