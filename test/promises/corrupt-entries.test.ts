/**
 * Promise: "a corrupt cached value is a miss that is deleted and counted, never a crash and never
 * code" — on every read path (single reads, batch reads, and so the range cache), including values
 * that are valid envelopes but carry a `__proto__` key inside the cached value itself.
 *
 * Entries are planted raw in Redis; each suite first shows that a well-formed planted envelope is
 * served, so a refused one is refused for its content, not because the planting is wrong.
 */
import { Redis } from 'ioredis';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { chunkByDay, type DayChunk } from '../../src/cache/range/day-chunks.js';
import { RangeCache } from '../../src/cache/range/range-cache.js';
import { daysOf } from '../../src/cache/range/range-days.js';
import { testRedis } from '../harness/test-env.js';
import { createCacheContext, uniquePrefix, type CacheContext } from '../support/cache-context.js';

/** A fixed production instant, and an expiry far in the future (entry timelines are epoch ms). */
const AS_OF = Date.UTC(2024, 2, 15, 12, 0, 0);
const FAR = Date.UTC(2099, 0, 1);

/** The stored form of an entry as the library writes it, with `valueJson` spliced in verbatim. */
const envelope = (valueJson: string) =>
  `{"v":${valueJson},"a":${AS_OF},"s":${FAR},"e":${FAR},"k":${FAR}}`;

/** Values that are JSON and sit in a well-formed envelope, but carry `__proto__` somewhere inside. */
const PROTO_VALUES: Record<string, string> = {
  top: '{"price":1,"__proto__":{"polluted":true}}',
  nested: '{"rows":[{"x":1},{"meta":{"__proto__":{"isAdmin":true}}}]}',
  escaped: '{"rows":[{"\\u005f_proto__":{"polluted":true}}]}',
};

let ctx: CacheContext;
let raw: Redis;

beforeAll(async () => {
  ctx = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: uniquePrefix('cor') });
  raw = new Redis(testRedis().url);
});
afterAll(async () => {
  await ctx?.close();
  raw?.disconnect();
});

const storage = (logical: string) => ctx.cache.keys.storageKey(logical);
const plant = (logical: string, text: string) => raw.set(storage(logical), text, 'EX', 300);
const corruptCount = async () => (await ctx.cache.getCacheStatistics()).l2.corrupt;
const corruptOf = async (type: CacheKeyType) =>
  (await ctx.cache.getCacheStatistics()).byKeyType[type]?.l2.corrupt ?? 0;

describe('a stored value carrying "__proto__" inside the cached value', () => {
  it('is served when the same envelope carries an ordinary key (the planting itself is sound)', async () => {
    const key = ctx.cache.keys.build(CacheKeyType.MARKET_DATA, 'proto-control');
    await plant(key, envelope('{"price":1,"proto":{"x":1},"__proto":2}'));
    expect(await ctx.cache.lookup(key)).toMatchObject({
      success: true,
      source: 'l2',
      value: { price: 1, proto: { x: 1 }, __proto: 2 },
      asOf: AS_OF,
    });
  });

  it.each(Object.keys(PROTO_VALUES))(
    'lookup (%s): a miss, deleted from Redis, counted as corrupt',
    async (name) => {
      const key = ctx.cache.keys.build(CacheKeyType.MARKET_DATA, 'proto-lookup', name);
      await plant(key, envelope(PROTO_VALUES[name]));
      const before = await corruptCount();
      const r = await ctx.cache.lookup(key);
      expect(r.success).toBe(false);
      expect(r.value).toBeUndefined();
      expect(await raw.exists(storage(key))).toBe(0);
      expect(await corruptCount()).toBe(before + 1);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    },
  );

  it.each(Object.keys(PROTO_VALUES))(
    'getOrSet (%s): the factory answers, the planted text is replaced, counted as corrupt',
    async (name) => {
      const key = ctx.cache.keys.build(CacheKeyType.MARKET_DATA, 'proto-getorset', name);
      await plant(key, envelope(PROTO_VALUES[name]));
      const before = await corruptCount();
      const r = await ctx.cache.getOrSetResult(key, () => ({ clean: name }));
      expect(r).toMatchObject({ source: 'factory', value: { clean: name } });
      await ctx.tiered.drain();
      expect(await raw.get(storage(key))).not.toContain('proto');
      expect(await corruptCount()).toBe(before + 1);
    },
  );

  it.each(Object.keys(PROTO_VALUES))(
    'pipelineGet (%s): a miss, deleted from Redis, counted as corrupt',
    async (name) => {
      const key = ctx.cache.keys.build(CacheKeyType.MARKET_DATA, 'proto-batch', name);
      await plant(key, envelope(PROTO_VALUES[name]));
      const before = await corruptCount();
      expect(await ctx.cache.pipelineGet([key])).toEqual([undefined]);
      expect(await raw.exists(storage(key))).toBe(0);
      expect(await corruptCount()).toBe(before + 1);
    },
  );
});

describe('corrupt keys found by batch reads', () => {
  const CORRUPT: Record<string, string> = {
    notJson: 'not json at all',
    noEnvelope: '{"price":1}',
    badTimeline: `{"v":1,"a":"yesterday","s":${FAR},"e":${FAR},"k":${FAR}}`,
    proto: envelope(PROTO_VALUES.nested),
  };

  it('pipelineGet answers good neighbours in order, deletes every corrupt key and counts each under its key type', async () => {
    const scope = uniquePrefix('pg');
    const good = [0, 1].map((i) => ctx.cache.keys.build(CacheKeyType.NEWS_DATA, scope, 'good', i));
    const bad = Object.keys(CORRUPT).map((n) =>
      ctx.cache.keys.build(CacheKeyType.NEWS_DATA, scope, n),
    );
    await plant(good[0], envelope('{"n":0}'));
    await plant(good[1], envelope('{"n":1}'));
    for (const [i, name] of Object.keys(CORRUPT).entries()) await plant(bad[i], CORRUPT[name]);
    const before = await corruptCount();
    const beforeNews = await corruptOf(CacheKeyType.NEWS_DATA);

    const values = await ctx.cache.pipelineGet([good[0], ...bad, good[1]]);

    expect(values).toEqual([{ n: 0 }, undefined, undefined, undefined, undefined, { n: 1 }]);
    for (const k of bad) expect(await raw.exists(storage(k))).toBe(0);
    for (const k of good) expect(await raw.exists(storage(k))).toBe(1);
    expect(await corruptCount()).toBe(before + bad.length);
    expect(await corruptOf(CacheKeyType.NEWS_DATA)).toBe(beforeNews + bad.length);
  });

  it('TieredCache.getMany deletes and counts them too', async () => {
    const scope = uniquePrefix('gm');
    const keys = Object.keys(CORRUPT).map((n) =>
      ctx.cache.keys.build(CacheKeyType.MARKET_DATA, scope, n),
    );
    for (const [i, name] of Object.keys(CORRUPT).entries()) await plant(keys[i], CORRUPT[name]);
    const before = await corruptCount();
    expect(await ctx.tiered.getMany(keys)).toEqual(keys.map(() => undefined));
    for (const k of keys) expect(await raw.exists(storage(k))).toBe(0);
    expect(await corruptCount()).toBe(before + keys.length);
  });
});

describe('corrupt day buckets met by the range cache', () => {
  interface Bar {
    date: string;
    n: number;
  }
  const TODAY = '2024-06-15';

  /** Two bars a day; `down` makes every fetch fail. */
  function source() {
    const s = {
      calls: [] as Array<[string, string]>,
      down: false,
      fetch: (_scope: string, from: string, to: string): AsyncIterable<DayChunk<Bar>> => {
        s.calls.push([from, to]);
        const down = s.down;
        async function* bars(): AsyncGenerator<Bar> {
          if (down) throw new Error('source down');
          for (const date of daysOf(from, to)) for (const n of [0, 1]) yield { date, n };
        }
        return chunkByDay(bars(), (b) => b.date, 2);
      },
    };
    return s;
  }

  it('deletes and counts a corrupt day even when its refetch fails, then refetches only that day', async () => {
    const scope = uniquePrefix('rc');
    const src = source();
    const dayKey = (s: string, d: string) => ctx.cache.keys.build(CacheKeyType.PRICE_BARS, s, d);
    const cache = new RangeCache<Bar, string>(ctx.cache, {
      keyType: CacheKeyType.PRICE_BARS,
      dayKey,
      fetch: src.fetch,
      ttl: { closedDaySeconds: 3600, liveDaySeconds: 60, today: () => TODAY },
    });
    const all = daysOf('2024-03-04', '2024-03-06').flatMap((date) => [
      { date, n: 0 },
      { date, n: 1 },
    ]);
    expect((await cache.getRange(scope, '2024-03-04', '2024-03-06')).items).toEqual(all);
    await ctx.tiered.drain();

    const middle = storage(dayKey(scope, '2024-03-05'));
    expect(await raw.exists(middle)).toBe(1);
    await raw.set(middle, '{"v":{"at":1,"items":[', 'KEEPTTL'); // truncated
    ctx.tiered.l1.clear();
    const before = await corruptCount();
    src.down = true;
    src.calls.length = 0;
    await expect(cache.getRange(scope, '2024-03-04', '2024-03-06')).rejects.toThrow('source down');
    expect(src.calls).toEqual([['2024-03-05', '2024-03-05']]);
    expect(await raw.exists(middle)).toBe(0);
    expect(await corruptCount()).toBe(before + 1);

    src.down = false;
    src.calls.length = 0;
    ctx.tiered.l1.clear();
    expect((await cache.getRange(scope, '2024-03-04', '2024-03-06')).items).toEqual(all);
    expect(src.calls).toEqual([['2024-03-05', '2024-03-05']]);
  });
});
