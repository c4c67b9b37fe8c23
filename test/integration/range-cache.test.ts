/**
 * RangeCache against the harness Redis: gap coalescing, empty-day markers, single-flight,
 * the parts layout for large days (and its self-repair), parts stored as NDJSON text, early
 * stop, source failure, TTLs, and the query-signature helper.
 */
import { CacheValidationError } from '../../src/cache/errors/cache-errors.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { chunkByDay, type DayChunk } from '../../src/cache/range/day-chunks.js';
import { canonicalFilters, querySignature } from '../../src/cache/range/query-signature.js';
import { RangeCache } from '../../src/cache/range/range-cache.js';
import type { RangeCacheOptions } from '../../src/cache/range/range-cache.options.js';
import { daysOf } from '../../src/cache/range/range-days.js';
import { testRedis } from '../harness/test-env.js';
import { createCacheContext, uniquePrefix, type CacheContext } from '../support/cache-context.js';

interface Item {
  date: string;
  n: number;
}

/** Synthetic source: `perDay(date)` items a day (0 on "holidays"), recording every range fetched. */
class FakeSource {
  readonly calls: Array<[string, string]> = [];
  closed = 0;
  failAfterDays: number | undefined;

  constructor(private readonly perDay: (date: string) => number) {}

  itemsOf(date: string): Item[] {
    return Array.from({ length: this.perDay(date) }, (_, n) => ({ date, n }));
  }

  fetch = (_scope: string, from: string, to: string): AsyncIterable<DayChunk<Item>> => {
    this.calls.push([from, to]);
    return chunkByDay(this.items(from, to), (i) => i.date, 2);
  };

  private async *items(from: string, to: string): AsyncGenerator<Item> {
    let days = 0;
    try {
      for (const d of daysOf(from, to)) {
        if (this.failAfterDays !== undefined && days++ >= this.failAfterDays)
          throw new Error('source down');
        yield* this.itemsOf(d);
      }
    } finally {
      this.closed++;
    }
  }

  expected(from: string, to: string): Item[] {
    return daysOf(from, to).flatMap((d) => this.itemsOf(d));
  }
}

const TODAY = '2024-06-15';
/** Two items a day, none on days ending in 0 (the "holidays"). */
const twoADay = (date: string) => (date.endsWith('0') ? 0 : 2);

let ctx: CacheContext;

beforeAll(async () => {
  ctx = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: uniquePrefix('rc') });
});

afterAll(async () => {
  await ctx?.close();
});

function rangeCache(
  source: FakeSource,
  scope: string,
  extra: Partial<RangeCacheOptions<Item, string>> = {},
): RangeCache<Item, string> {
  return new RangeCache<Item, string>(ctx.cache, {
    keyType: CacheKeyType.PRICE_BARS,
    dayKey: (s, d) => ctx.cache.keys.build(CacheKeyType.PRICE_BARS, s, d),
    fetch: source.fetch,
    ttl: { closedDaySeconds: 3600, liveDaySeconds: 60, today: () => TODAY },
    ...extra,
  });
}

async function drainStream(
  cache: RangeCache<Item, string>,
  scope: string,
  from: string,
  to: string,
) {
  const stream = await cache.open(scope, from, to);
  const chunks: DayChunk<Item>[] = [];
  for await (const c of stream.days()) chunks.push(c);
  return { stream, chunks, items: chunks.flatMap((c) => c.items) };
}

describe('RangeCache (inline layout)', () => {
  it('fetches each missing contiguous range once and answers the merged range in order', async () => {
    const source = new FakeSource(twoADay);
    const scope = uniquePrefix('s');
    const cache = rangeCache(source, scope);
    await cache.getRange(scope, '2024-03-03', '2024-03-05');
    await cache.getRange(scope, '2024-03-08', '2024-03-09');
    source.calls.length = 0;
    const counters = ctx.tiered.stats.of(CacheKeyType.PRICE_BARS);
    const before = { ...counters };

    const r = await cache.getRange(scope, '2024-03-01', '2024-03-12');
    expect(source.calls).toEqual([
      ['2024-03-01', '2024-03-02'],
      ['2024-03-06', '2024-03-07'],
      ['2024-03-10', '2024-03-12'],
    ]);
    expect(r.status).toBe('partial');
    expect(r.fetched).toEqual(source.calls);
    expect(r.cachedDays).toBe(5);
    expect(r.totalDays).toBe(12);
    expect(r.items).toEqual(source.expected('2024-03-01', '2024-03-12'));
    expect(counters.rangePartials - before.rangePartials).toBe(1);

    source.calls.length = 0;
    ctx.tiered.l1.clear(); // from Redis this time
    const again = await cache.getRange(scope, '2024-03-01', '2024-03-12');
    expect(source.calls).toEqual([]);
    expect(again.status).toBe('hit');
    expect(again.items).toEqual(r.items);
    expect(counters.rangeHits - before.rangeHits).toBe(1);
  });

  it('remembers days without items, so they are never fetched again', async () => {
    const source = new FakeSource(() => 0);
    const scope = uniquePrefix('s');
    const cache = rangeCache(source, scope);
    expect((await cache.getRange(scope, '2024-01-06', '2024-01-07')).status).toBe('miss');
    const r = await cache.getRange(scope, '2024-01-06', '2024-01-07');
    expect(r).toMatchObject({ status: 'hit', items: [], fetched: [] });
    expect(source.calls).toEqual([['2024-01-06', '2024-01-07']]);
  });

  it('shares one read and one fetch between concurrent identical requests', async () => {
    const source = new FakeSource(twoADay);
    const scope = uniquePrefix('s');
    const cache = rangeCache(source, scope);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => cache.getRange(scope, '2024-02-01', '2024-02-29')),
    );
    expect(source.calls).toHaveLength(1);
    for (const r of results) expect(r.items).toEqual(source.expected('2024-02-01', '2024-02-29'));
  });

  it('gives closed days the long TTL and the live day (today and later) the short one', async () => {
    const source = new FakeSource(twoADay);
    const scope = uniquePrefix('s');
    const cache = rangeCache(source, scope);
    await cache.getRange(scope, '2024-06-13', '2024-06-16');
    const pttl = (d: string) =>
      ctx.store.ttl(
        ctx.cache.keys.storageKey(ctx.cache.keys.build(CacheKeyType.PRICE_BARS, scope, d)),
      );
    expect(await pttl('2024-06-14')).toBeGreaterThan(3_590_000);
    for (const live of ['2024-06-15', '2024-06-16']) {
      const ms = await pttl(live);
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(60_000);
    }
    expect(cache.ttlSecondsFor('2024-06-14')).toBe(3600);
    expect(cache.ttlSecondsFor(TODAY)).toBe(60);
  });

  it('rejects bad ranges with a CacheValidationError naming the field, before any read', async () => {
    const source = new FakeSource(twoADay);
    const cache = rangeCache(source, 'x', { maxDays: 31 });
    await expect(cache.getRange('x', '2024-02-30', '2024-03-01')).rejects.toMatchObject({
      field: 'from',
    });
    await expect(cache.getRange('x', '2024-03-02', '2024-03-01')).rejects.toMatchObject({
      field: 'from',
    });
    await expect(cache.open('x', '2024-01-01', '2024-03-01')).rejects.toBeInstanceOf(
      CacheValidationError,
    );
    await expect(cache.open('x', '2024-01-01', '2024-03-01')).rejects.toMatchObject({
      field: 'to',
    });
    expect(source.calls).toEqual([]);
  });
});

describe('RangeCache (parts layout, streamed)', () => {
  const partKey = (s: string, d: string, p: number) =>
    ctx.cache.keys.build(CacheKeyType.MARKET_DATA, s, d, p);
  const partsCache = (source: FakeSource, extra: Partial<RangeCacheOptions<Item, string>> = {}) =>
    rangeCache(source, '', {
      keyType: CacheKeyType.MARKET_DATA,
      dayKey: (s, d) => ctx.cache.keys.build(CacheKeyType.MARKET_DATA, s, d),
      partKey,
      partSize: 3,
      ...extra,
    });

  it('splits a large day into parts behind a small index, and streams it back in order', async () => {
    const source = new FakeSource((d) => (d === '2024-04-02' ? 7 : 1));
    const scope = uniquePrefix('s');
    const cache = partsCache(source);
    const cold = await drainStream(cache, scope, '2024-04-01', '2024-04-03');
    expect(cold.stream.status).toBe('miss');
    expect(cold.items).toEqual(source.expected('2024-04-01', '2024-04-03'));

    const index = await ctx.cache.pipelineGet([
      ctx.cache.keys.build(CacheKeyType.MARKET_DATA, scope, '2024-04-02'),
    ]);
    expect(index[0]).toMatchObject({ count: 7, parts: 3 });
    const parts = await ctx.cache.pipelineGet<Item[]>(
      [0, 1, 2, 3].map((p) => partKey(scope, '2024-04-02', p)),
    );
    expect(parts.map((p) => p?.length)).toEqual([3, 3, 1, undefined]);

    ctx.tiered.l1.clear();
    const warm = await drainStream(cache, scope, '2024-04-01', '2024-04-03');
    expect(warm.stream).toMatchObject({ status: 'hit', fetched: [] });
    expect(warm.items).toEqual(cold.items);
    expect(warm.chunks.every((c) => c.items.length <= 3)).toBe(true);
    expect(source.calls).toHaveLength(1);
  });

  it('refetches only a day whose part is gone, without serving an item twice', async () => {
    const source = new FakeSource((d) => (d === '2024-04-09' ? 8 : 2));
    const scope = uniquePrefix('s');
    const cache = partsCache(source);
    await drainStream(cache, scope, '2024-04-08', '2024-04-10');
    await ctx.store.delete(ctx.cache.keys.storageKey(partKey(scope, '2024-04-09', 1)));
    ctx.tiered.l1.clear();
    source.calls.length = 0;
    const r = await drainStream(cache, scope, '2024-04-08', '2024-04-10');
    expect(r.stream.status).toBe('hit');
    expect(source.calls).toEqual([['2024-04-09', '2024-04-09']]);
    expect(r.items).toEqual(source.expected('2024-04-08', '2024-04-10'));
    // The day was written again: the next read needs no source.
    ctx.tiered.l1.clear();
    source.calls.length = 0;
    expect((await drainStream(cache, scope, '2024-04-08', '2024-04-10')).items).toEqual(r.items);
    expect(source.calls).toEqual([]);
  });

  it('writes the days completed when the consumer stops early, and closes the source', async () => {
    const source = new FakeSource(() => 2);
    const scope = uniquePrefix('s');
    const cache = partsCache(source, { writeBatchItems: 1000 });
    const stream = await cache.open(scope, '2024-05-01', '2024-05-10');
    let seen = 0;
    for await (const chunk of stream.days()) {
      seen += chunk.items.length;
      if (chunk.date === '2024-05-04') break; // 05-04 has started, not completed
    }
    expect(seen).toBe(8);
    expect(source.closed).toBe(1);
    const next = await cache.open(scope, '2024-05-01', '2024-05-10');
    expect(next.status).toBe('partial');
    expect(next.fetched).toEqual([['2024-05-04', '2024-05-10']]);
  });

  it('keeps the days completed before the source failed, and passes the error on', async () => {
    const source = new FakeSource(() => 1);
    source.failAfterDays = 3;
    const scope = uniquePrefix('s');
    const cache = partsCache(source);
    await expect(drainStream(cache, scope, '2024-05-01', '2024-05-07')).rejects.toThrow(
      'source down',
    );
    const next = await cache.open(scope, '2024-05-01', '2024-05-07');
    // The cache saw chunks of days 1 and 2 (chunkByDay holds day 3 until day 4 starts); day 2
    // could still have had items coming, so only day 1 counts as complete and is kept.
    expect(next.fetched).toEqual([['2024-05-02', '2024-05-07']]);
  });

  it('streams a long range with at most about two parts held by the writer', async () => {
    const source = new FakeSource(() => 5);
    const scope = uniquePrefix('s');
    const cache = partsCache(source, { partSize: 4, writeBatchItems: 8 });
    const r = await drainStream(cache, scope, '2024-01-01', '2024-03-31');
    expect(r.items).toHaveLength(91 * 5);
    expect(r.chunks.every((c) => c.items.length <= 4)).toBe(true);
    ctx.tiered.l1.clear();
    expect((await drainStream(cache, scope, '2024-01-01', '2024-03-31')).items).toEqual(r.items);
  });
});

describe("RangeCache (parts layout, encodePart: 'ndjson')", () => {
  const partKey = (s: string, d: string, p: number) =>
    ctx.cache.keys.build(CacheKeyType.MARKET_DATA, s, d, p);
  const textCache = (source: FakeSource) =>
    rangeCache(source, '', {
      keyType: CacheKeyType.MARKET_DATA,
      dayKey: (s, d) => ctx.cache.keys.build(CacheKeyType.MARKET_DATA, s, d),
      partKey,
      partSize: 3,
      encodePart: 'ndjson',
    });
  const ndjson = (items: Item[]) => items.map((i) => JSON.stringify(i) + '\n').join('');

  it('stores parts as NDJSON text and streams them back as text, small days sharing a read, items parsed on demand', async () => {
    // One item a day, except a large day of 7 (parts of 3, 3 and 1).
    const source = new FakeSource((d) => (d === '2024-04-05' ? 7 : 1));
    const scope = uniquePrefix('s');
    const cache = textCache(source);
    const cold = await drainStream(cache, scope, '2024-04-01', '2024-04-09');
    const expected = source.expected('2024-04-01', '2024-04-09');
    expect(cold.items).toEqual(expected);
    expect(cold.chunks.map((c) => c.text ?? '').join('')).toBe(ndjson(expected));
    await ctx.tiered.drain();
    const [part] = await ctx.cache.pipelineGet([partKey(scope, '2024-04-05', 1)]);
    const day = expected.filter((i) => i.date === '2024-04-05');
    expect(part).toMatchObject({ n: 3, t: ndjson(day.slice(3, 6)) });

    ctx.tiered.l1.clear();
    source.calls.length = 0;
    const warm = await drainStream(cache, scope, '2024-04-01', '2024-04-09');
    expect(warm.stream.status).toBe('hit');
    expect(source.calls).toEqual([]);
    expect(warm.chunks.map((c) => c.text).join('')).toBe(ndjson(expected));
    // A chunk per part: 8 one-item days and the 3 parts of the large day.
    expect(warm.chunks.map((c) => c.items.length)).toEqual([1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1]);
    expect(warm.items).toEqual(expected);
    expect((await cache.getRange(scope, '2024-04-01', '2024-04-09')).items).toEqual(expected);
  });

  it("refuses encodePart 'ndjson' without partKey, and an unknown encoding, naming encodePart", () => {
    const source = new FakeSource(twoADay);
    expect(() => rangeCache(source, 'x', { encodePart: 'ndjson' })).toThrow(CacheValidationError);
    expect(() => rangeCache(source, 'x', { encodePart: 'ndjson' })).toThrow(
      expect.objectContaining({ field: 'encodePart' }),
    );
    expect(() =>
      rangeCache(source, 'x', {
        partKey,
        encodePart: 'csv' as unknown as 'ndjson',
      }),
    ).toThrow(expect.objectContaining({ field: 'encodePart' }));
  });
});

describe('helpers', () => {
  it('querySignature: absent, null, empty and reordered values mean the same query; other values do not', () => {
    const a = querySignature('trades.v1', {
      tickers: ['MSFT', 'AAPL', 'AAPL'],
      side: undefined,
      venue: null,
      note: '',
      tags: [],
    });
    expect(a).toMatch(/^[0-9a-f]{20}$/);
    expect(querySignature('trades.v1', { tickers: ['AAPL', 'MSFT'] })).toBe(a);
    expect(querySignature('trades.v1', { tickers: ['AAPL'] })).not.toBe(a);
    expect(querySignature('trades.v2', { tickers: ['AAPL', 'MSFT'] })).not.toBe(a);
    expect(querySignature('k', { minQuantity: 100 })).not.toBe(
      querySignature('k', { minQuantity: '100' }),
    );
    expect(canonicalFilters({ b: 1, a: [' x ', 'x'] })).toEqual({ a: ['x'], b: 1 });
    expect(() => canonicalFilters({ n: Number.NaN })).toThrow(CacheValidationError);
  });

  it('chunkByDay: groups in order, cuts chunks at the maximum, refuses dates going backwards', async () => {
    const chunks: DayChunk<Item>[] = [];
    for await (const c of chunkByDay(
      [
        { date: 'a', n: 1 },
        { date: 'a', n: 2 },
        { date: 'a', n: 3 },
        { date: 'b', n: 1 },
      ],
      (i) => i.date,
      2,
    ))
      chunks.push(c);
    expect(chunks.map((c) => [c.date, c.items.length])).toEqual([
      ['a', 2],
      ['a', 1],
      ['b', 1],
    ]);
    const backwards = async () => {
      for await (const _ of chunkByDay(
        [
          { date: 'b', n: 1 },
          { date: 'a', n: 1 },
        ],
        (i) => i.date,
      ))
        void _;
    };
    await expect(backwards()).rejects.toMatchObject({ code: 'CACHE_FACTORY_FAILED' });
  });
});
