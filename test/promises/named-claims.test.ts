/**
 * Tests whose names claim more than the older ones check (issue 16), written to check the claim:
 * - the range writer holds about two parts, not the range (items read but not yet written);
 * - `CACHE_MANAGER` opens no second Redis connection (counted on the server);
 *
 * The wrong-password log check lives in `secret-logging.test.ts` (it needs the default logger).
 */
import { jest } from '@jest/globals';
import { CACHE_MANAGER } from '@nestjs/cache-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Cache } from 'cache-manager';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { CacheManagerCompatModule } from '../../src/cache/compat/cache-manager-compat.module.js';
import { MarketCacheModule } from '../../src/cache/market-cache.module.js';
import { chunkByDay, type DayChunk } from '../../src/cache/range/day-chunks.js';
import { RangeCache } from '../../src/cache/range/range-cache.js';
import { daysOf } from '../../src/cache/range/range-days.js';
import type { StoreEntry } from '../../src/cache/stores/cache-store.js';
import { RedisServerProcess, redisCommand } from '../harness/redis-server.js';
import { testRedis } from '../harness/test-env.js';
import {
  createCacheContext,
  uniquePrefix,
  waitFor,
  type CacheContext,
} from '../support/cache-context.js';

describe('range writer memory (supersedes "streams a long range with at most about two parts held by the writer")', () => {
  let ctx: CacheContext;
  beforeAll(async () => {
    ctx = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: uniquePrefix('wm') });
  });
  afterAll(async () => {
    await ctx?.close();
    jest.restoreAllMocks();
  });

  it('writes parts back as it streams: items served but not yet written stay within two parts and a partial one', async () => {
    const PART = 4;
    const BATCH = 8; // two parts
    const scope = uniquePrefix('s');
    // Items that reached Redis: the parts (arrays) in every batch write.
    let written = 0;
    const realSet = ctx.store.pipelineSet.bind(ctx.store);
    jest.spyOn(ctx.store, 'pipelineSet').mockImplementation((entries: readonly StoreEntry[]) => {
      for (const e of entries) {
        const v = (JSON.parse(e.value) as { v: unknown }).v;
        if (Array.isArray(v)) written += v.length;
      }
      return realSet(entries);
    });
    const cache = new RangeCache<{ date: string; n: number }, string>(ctx.cache, {
      keyType: CacheKeyType.MARKET_DATA,
      dayKey: (s, d) => ctx.cache.keys.build(CacheKeyType.MARKET_DATA, s, d),
      partKey: (s, d, p) => ctx.cache.keys.build(CacheKeyType.MARKET_DATA, s, d, p),
      partSize: PART,
      writeBatchItems: BATCH,
      fetch: (_scope, from, to) => {
        async function* items() {
          for (const date of daysOf(from, to)) for (let n = 0; n < 5; n++) yield { date, n };
        }
        return chunkByDay(items(), (i) => i.date, 2);
      },
      ttl: { closedDaySeconds: 3600, liveDaySeconds: 60, today: () => '2024-06-15' },
    });

    const stream = await cache.open(scope, '2024-01-01', '2024-03-31');
    let served = 0;
    let mostHeld = 0;
    const chunks: DayChunk<{ date: string; n: number }>[] = [];
    for await (const chunk of stream.days()) {
      chunks.push(chunk);
      served += chunk.items.length;
      mostHeld = Math.max(mostHeld, served - written);
    }
    expect(served).toBe(91 * 5);
    expect(written).toBe(91 * 5);
    expect(mostHeld).toBeGreaterThan(0); // the measure moves: writes lag behind reads a little
    expect(mostHeld).toBeLessThanOrEqual(BATCH + PART);
    // And what was written reads back whole, from the cache alone.
    ctx.tiered.l1.clear();
    const again = await cache.open(scope, '2024-01-01', '2024-03-31');
    expect(again.status).toBe('hit');
    const items: unknown[] = [];
    for await (const c of again.days()) items.push(...c.items);
    expect(items).toEqual(chunks.flatMap((c) => c.items));
  });
});

describe('CACHE_MANAGER connections (supersedes "goes through our store (no second connection, …)")', () => {
  let server: RedisServerProcess;
  beforeAll(async () => {
    server = await RedisServerProcess.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Connected clients the server counts, besides the one-shot connection asking. */
  async function clients(): Promise<number> {
    const list = await redisCommand(server.port, 'CLIENT', 'LIST');
    return list.split('\n').filter((l) => l.trim().length > 0).length - 1;
  }

  async function start(withCompat: boolean, prefix: string): Promise<INestApplicationContext> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        MarketCacheModule.forRoot({ redisUrl: server.url, keyPrefix: prefix, isGlobal: true }),
        ...(withCompat ? [CacheManagerCompatModule.register()] : []),
      ],
    }).compile();
    return moduleRef.init();
  }

  it('opens as many connections with CACHE_MANAGER in use as the market cache alone does', async () => {
    expect(await clients()).toBe(0);
    const alone = await start(false, uniquePrefix('cm0'));
    let baseline: number;
    try {
      await waitFor(async () => (await clients()) >= 2, 5000); // commands + bus subscriber
      baseline = await clients();
    } finally {
      await alone.close();
    }
    await waitFor(async () => (await clients()) === 0, 5000);

    const prefix = uniquePrefix('cm1');
    const app = await start(true, prefix);
    try {
      const cm = app.get<Cache>(CACHE_MANAGER);
      await cm.set('quote:AAPL', { price: 190 }, 60_000);
      expect(await cm.get('quote:AAPL')).toEqual({ price: 190 });
      expect(await cm.wrap('quote:MSFT', async () => ({ price: 420 }), 60_000)).toEqual({
        price: 420,
      });
      // The writes reached this server, under the module's prefix…
      const keys = await redisCommand(server.port, 'KEYS', `${prefix}:*`);
      expect(keys).toContain('quote');
      // …through the connections the market cache opened, and no other.
      await waitFor(async () => (await clients()) >= baseline, 5000);
      expect(await clients()).toBe(baseline);
    } finally {
      await app.close();
    }
  });
});
