import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileStore } from '../../src/cache/stores/file/file-store.js';
import { createCacheContext } from '../support/cache-context.js';

describe('CACHE_DRIVER=file: L1 memory over FileStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'market-cache-file-driver-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps values across a restart and reports source `file`', async () => {
    const first = await createCacheContext({ driver: 'file', fileDirectory: dir });
    expect(first.store).toBeInstanceOf(FileStore);
    await first.cache.set('financial_data:7203:quarterly:Q3', { revenue: 30 });
    await first.cache.set('stock_price:7203:latest', { p: 1 }, { ttl: 0.05 });
    expect(await first.cache.getOrSet('news_data:7203:earnings', () => [{ h: 'n' }])).toEqual([
      { h: 'n' },
    ]);
    await first.close();

    await new Promise((r) => setTimeout(r, 100));
    const second = await createCacheContext({ driver: 'file', fileDirectory: dir });
    try {
      expect(await second.cache.lookup('financial_data:7203:quarterly:Q3')).toMatchObject({
        success: true,
        source: 'file',
        value: { revenue: 30 },
      });
      expect(await second.cache.lookup('financial_data:7203:quarterly:Q3')).toMatchObject({
        source: 'l1',
      });
      expect(await second.cache.lookup('stock_price:7203:latest')).toMatchObject({
        success: false,
      });
      let calls = 0;
      expect(await second.cache.getOrSet('news_data:7203:earnings', () => (calls++, []))).toEqual([
        { h: 'n' },
      ]);
      expect(calls).toBe(0);
      const categories = (second.store as FileStore).getCategoryStats();
      expect(Object.keys(categories)).toEqual(
        expect.arrayContaining(['financial_data', 'news_data']),
      );
      expect(categories.financial_data.entries).toBe(1);
      expect(categories.financial_data.bytes).toBeGreaterThan(0);
      const stats = await second.cache.getCacheStatistics();
      expect(stats.store.kind).toBe('file');
      expect(stats.health.status).toBe('up');
    } finally {
      await second.close();
    }
  });

  it('stops start-up with a message naming a bad option', async () => {
    await expect(
      createCacheContext({ driver: 'file', fileDirectory: dir, l1MaxEntries: 0 }),
    ).rejects.toThrow(/l1MaxEntries/);
    await expect(createCacheContext({ driver: 'redis' })).rejects.toThrow(/redisUrl/);
    await expect(createCacheContext({ redisUrl: 'http://x' })).rejects.toThrow(/redisUrl/);
    await expect(createCacheContext({ keyPrefix: 'bad prefix*' } as never)).rejects.toThrow(
      /keyPrefix/,
    );
    await expect(createCacheContext({ ttlSecondz: 5 } as never)).rejects.toThrow(/ttlSecondz/);
  });
});
