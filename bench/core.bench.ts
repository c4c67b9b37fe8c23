/**
 * Core benchmarks (issues: core spine, two-tier cache): raw ioredis vs RedisCache vs
 * CacheService on one redis-server this script starts, and L1 hits vs lru-cache, bentocache
 * and cacheable. Lines of one section run side by side in one process, interleaved by round.
 */
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { Cacheable, CacheableMemory, KeyvCacheableMemory } from 'cacheable';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { CacheKeyBuilder } from '../src/cache/keys/cache-key-builder.js';
import { RedisCache } from '../src/cache/stores/redis/redis-cache.js';
import { benchCacheService } from './cache-stack.js';
import { RedisServerProcess } from '../test/harness/redis-server.js';
import { measure, measurePaired, quotePayload, type BenchRow } from './lib.js';

/** Runs `rounds` rounds of each case in turn (order reversed every other round) and keeps each case's best round (the least disturbed by the shared machine). */
async function sideBySide(
  cases: { name: string; run: () => Promise<BenchRow> }[],
  rounds = 5,
): Promise<BenchRow[]> {
  const best = new Map<string, BenchRow>();
  for (let r = 0; r < rounds; r++) {
    for (const c of r % 2 === 0 ? cases : [...cases].reverse()) {
      const row = await c.run();
      const prev = best.get(c.name);
      if (!prev || row.opsPerSec > prev.opsPerSec) best.set(c.name, row);
    }
  }
  return cases.map((c) => best.get(c.name) as BenchRow);
}

export async function runCoreBench(): Promise<BenchRow[]> {
  const server = await RedisServerProcess.start();
  const raw = new Redis(server.url);
  const direct = new RedisCache({ url: server.url, commandTimeoutMs: 2000 });
  await direct.connect();
  const withL1 = await benchCacheService(server.url, 'bench');
  const l2Only = await benchCacheService(server.url, 'bench', { l1MaxItemBytes: 1 });
  const rows: BenchRow[] = [];
  try {
    const value = quotePayload(1024);
    const envelopeKeys = new CacheKeyBuilder('bench');
    const logical = Array.from({ length: 1000 }, (_, i) => `stock_price:T${i}:latest`);
    await withL1.service.pipelineSet(logical.map((key) => ({ key, value, ttl: 3600 })));
    const rawKeys = logical.map((k) => envelopeKeys.storageKey(k));
    const factory = () => value;
    const opts = {};

    const seq = 20_000;
    rows.push(
      ...(await measurePaired(
        'sequential (1 in flight)',
        [
          {
            name: 'raw ioredis GET + JSON.parse',
            op: async (i) => JSON.parse((await raw.get(rawKeys[i % 1000])) as string),
          },
          {
            name: 'RedisCache.get + JSON.parse',
            op: async (i) => JSON.parse((await direct.get(rawKeys[i % 1000])) as string),
          },
          {
            name: 'CacheService.getOrSet, L1 off (L2 hit)',
            op: (i) => l2Only.service.getOrSet(logical[i % 1000], factory, opts),
          },
          {
            name: 'CacheService.getOrSet (L1 hit)',
            op: (i) => withL1.service.getOrSet(logical[i % 1000], factory, opts),
          },
        ],
        seq,
      )),
    );

    const par = 50_000;
    rows.push(
      ...(await sideBySide([
        {
          name: 'raw ioredis GET + JSON.parse',
          run: () =>
            measure(
              '1,000 in flight',
              'raw ioredis GET + JSON.parse',
              async (i) => JSON.parse((await raw.get(rawKeys[i % 1000])) as string),
              { ops: par, concurrency: 1000 },
            ),
        },
        {
          name: 'RedisCache.get + JSON.parse (coalesced MGET)',
          run: () =>
            measure(
              '1,000 in flight',
              'RedisCache.get + JSON.parse (coalesced MGET)',
              async (i) => JSON.parse((await direct.get(rawKeys[i % 1000])) as string),
              { ops: par, concurrency: 1000 },
            ),
        },
        {
          name: 'CacheService.getOrSet, L1 off (L2 hit)',
          run: () =>
            measure(
              '1,000 in flight',
              'CacheService.getOrSet, L1 off (L2 hit)',
              (i) => l2Only.service.getOrSet(logical[i % 1000], factory, opts),
              { ops: par, concurrency: 1000 },
            ),
        },
        {
          name: 'CacheService.getOrSet (L1 hit)',
          run: () =>
            measure(
              '1,000 in flight',
              'CacheService.getOrSet (L1 hit)',
              (i) => withL1.service.getOrSet(logical[i % 1000], factory, opts),
              { ops: par, concurrency: 1000 },
            ),
        },
      ])),
    );

    const batches = 3_000;
    const batchKeys = (i: number) => rawKeys.slice((i % 10) * 100, (i % 10) * 100 + 100);
    const batchLogical = (i: number) => logical.slice((i % 10) * 100, (i % 10) * 100 + 100);
    rows.push(
      ...(await sideBySide([
        {
          name: 'raw MGET 100 + JSON.parse',
          run: () =>
            measure(
              'batch of 100 keys',
              'raw MGET 100 + JSON.parse',
              async (i) => (await raw.mget(batchKeys(i))).map((v) => JSON.parse(v as string)),
              { ops: batches },
            ),
        },
        {
          name: 'RedisCache.pipelineGet 100 + JSON.parse',
          run: () =>
            measure(
              'batch of 100 keys',
              'RedisCache.pipelineGet 100 + JSON.parse',
              async (i) =>
                (await direct.pipelineGet(batchKeys(i))).map((v) => JSON.parse(v as string)),
              { ops: batches },
            ),
        },
        {
          name: 'CacheService.pipelineGet 100, L1 off',
          run: () =>
            measure(
              'batch of 100 keys',
              'CacheService.pipelineGet 100, L1 off',
              (i) => l2Only.service.pipelineGet(batchLogical(i)),
              { ops: batches },
            ),
        },
      ])),
    );

    // L1 hits: one warm 1 KB key, awaited one at a time.
    const lru = new LRUCache<string, object>({ max: 10_000 });
    lru.set('k', value);
    const rawLru = async (key: string) => lru.get(key);
    const bento = new BentoCache({
      default: 'mem',
      stores: {
        mem: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000, serialize: false })),
      },
    });
    const bentoDefault = new BentoCache({
      default: 'mem',
      stores: { mem: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) },
    });
    const cacheable = new Cacheable({
      primary: new KeyvCacheableMemory({ useClone: false }) as never,
    });
    const cacheableMem = new CacheableMemory({ useClone: false });
    await bento.getOrSet({ key: 'k', factory: () => value, ttl: '1h' });
    await bentoDefault.getOrSet({ key: 'k', factory: () => value, ttl: '1h' });
    await cacheable.getOrSet('k', async () => value, { ttl: '1h' });
    cacheableMem.getOrSet('k', () => value, { ttl: '1h' });
    const hot = logical[0];
    const hits = 300_000;
    const l1 = { ops: hits, sampleEvery: 100 };
    rows.push(
      ...(await sideBySide([
        {
          name: 'raw lru-cache get in an async function',
          run: () =>
            measure(
              'L1 hit (getOrSet, warm 1 KB)',
              'raw lru-cache get in an async function',
              () => rawLru('k'),
              l1,
            ),
        },
        {
          name: 'CacheService.getOrSet (L1 hit)',
          run: () =>
            measure(
              'L1 hit (getOrSet, warm 1 KB)',
              'CacheService.getOrSet (L1 hit)',
              () => withL1.service.getOrSet(hot, factory, opts),
              l1,
            ),
        },
        {
          name: 'bentocache getOrSet, memory serialize:false',
          run: () =>
            measure(
              'L1 hit (getOrSet, warm 1 KB)',
              'bentocache getOrSet, memory serialize:false',
              () => bento.getOrSet({ key: 'k', factory: () => value, ttl: '1h' }),
              l1,
            ),
        },
        {
          name: 'bentocache getOrSet, memory default',
          run: () =>
            measure(
              'L1 hit (getOrSet, warm 1 KB)',
              'bentocache getOrSet, memory default',
              () => bentoDefault.getOrSet({ key: 'k', factory: () => value, ttl: '1h' }),
              l1,
            ),
        },
        {
          name: 'cacheable Cacheable.getOrSet, useClone:false',
          run: () =>
            measure(
              'L1 hit (getOrSet, warm 1 KB)',
              'cacheable Cacheable.getOrSet, useClone:false',
              () => cacheable.getOrSet('k', async () => value, { ttl: '1h' }),
              l1,
            ),
        },
        {
          name: 'cacheable CacheableMemory.getOrSet, useClone:false',
          run: async () =>
            measure(
              'L1 hit (getOrSet, warm 1 KB)',
              'cacheable CacheableMemory.getOrSet, useClone:false',
              async () => cacheableMem.getOrSet('k', () => value, { ttl: '1h' }),
              l1,
            ),
        },
      ])),
    );
    await bento.disconnectAll();
    await bentoDefault.disconnectAll();
  } finally {
    raw.disconnect();
    await direct.disconnect();
    await withL1.close();
    await l2Only.close();
    await server.stop();
  }
  return rows;
}
