import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { RedisServerProcess, redisCommand } from '../harness/redis-server.js';
import { createCacheContext, uniquePrefix, waitFor } from '../support/cache-context.js';

describe('Redis Sentinel', () => {
  let master: RedisServerProcess;
  let replica: RedisServerProcess;
  let sentinel: RedisServerProcess;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    master = await RedisServerProcess.start();
    replica = await RedisServerProcess.start({
      args: ['--replicaof', '127.0.0.1', String(master.port)],
    });
    await waitFor(
      async () =>
        /master_link_status:up/.test(await redisCommand(replica.port, 'INFO', 'replication')),
      10_000,
    );
    sentinel = await RedisServerProcess.start({
      sentinel: { name: 'mymaster', masterPort: master.port },
    });
    await waitFor(
      async () => /slaves=1/.test(await redisCommand(sentinel.port, 'INFO', 'sentinel')),
      10_000,
    );
  });
  afterAll(async () => {
    await sentinel?.stop();
    await replica?.stop();
    await master?.stop();
    process.off('unhandledRejection', onUnhandled);
  });

  it('finds the master through the sentinel and follows a failover without throwing', async () => {
    const ctx = await createCacheContext({
      sentinels: [`127.0.0.1:${sentinel.port}`],
      sentinelName: 'mymaster',
      keyPrefix: uniquePrefix('sen'),
      commandTimeoutMs: 300,
    });
    try {
      expect(ctx.store).toBeInstanceOf(RedisCache);
      expect(await ctx.cache.set('market_data:s', { v: 1 })).toBe(true);
      ctx.tiered.l1.clear();
      expect(await ctx.cache.lookup('market_data:s')).toMatchObject({
        success: true,
        source: 'l2',
      });
      expect(await ctx.store.getHealth()).toMatchObject({ status: 'up', mode: 'sentinel' });

      await master.kill();
      // While the sentinel promotes the replica, calls answer (miss / false / factory) and never throw.
      const t0 = Date.now();
      await waitFor(async () => (await ctx.store.set('probe', 'x', 10_000)) === true, 15_000);
      const failoverMs = Date.now() - t0;
      expect(await ctx.cache.getOrSet('market_data:after', () => ({ v: 2 }))).toEqual({ v: 2 });
      expect(/role:master/.test(await redisCommand(replica.port, 'INFO', 'replication'))).toBe(
        true,
      );
      expect(failoverMs).toBeLessThan(15_000);
      expect(unhandled).toEqual([]);
    } finally {
      await ctx.close();
    }
  }, 40_000);
});
