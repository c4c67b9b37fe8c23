/**
 * `shutdownWaitMs`: at shutdown the module waits for its background work (late factory results,
 * refreshes) only so long, then closes the store: a factory stuck on a slow source never holds
 * the process.
 */
import { testRedis } from '../harness/test-env.js';
import { createCacheContext, uniquePrefix } from '../support/cache-context.js';

describe('shutdownWaitMs', () => {
  it('closes although a factory never settles, abandoning its work after shutdownWaitMs', async () => {
    const ctx = await createCacheContext({
      redisUrl: testRedis().url,
      keyPrefix: uniquePrefix('sw'),
      hardTimeoutMs: 50,
      shutdownWaitMs: 100,
    });
    // The caller gets a timeout after 50 ms; the factory's work stays tracked, and never ends.
    await expect(
      ctx.cache.getOrSet('market_data:stuck:1', () => new Promise<never>(() => undefined)),
    ).rejects.toMatchObject({ code: 'CACHE_FACTORY_TIMEOUT' });
    const closed = ctx.close().then(() => 'closed');
    const never = new Promise((r) => setTimeout(r, 20_000, 'still waiting').unref());
    expect(await Promise.race([closed, never])).toBe('closed');
  });

  it('waits for background work that ends within shutdownWaitMs (its write lands)', async () => {
    const prefix = uniquePrefix('sw2');
    const ctx = await createCacheContext({
      redisUrl: testRedis().url,
      keyPrefix: prefix,
      hardTimeoutMs: 50,
      shutdownWaitMs: 5000,
    });
    await expect(
      ctx.cache.getOrSet(
        'market_data:late:1',
        () => new Promise<string>((r) => setTimeout(r, 300, 'late value')),
      ),
    ).rejects.toMatchObject({ code: 'CACHE_FACTORY_TIMEOUT' });
    await ctx.close();
    const again = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: prefix });
    try {
      expect((await again.cache.get<string>('market_data:late:1'))?.value).toBe('late value');
    } finally {
      await again.close();
    }
  });

  it('refuses a negative shutdownWaitMs, naming it', async () => {
    await expect(
      createCacheContext({ redisUrl: testRedis().url, shutdownWaitMs: -1 }),
    ).rejects.toMatchObject({ field: 'shutdownWaitMs' });
  });
});
