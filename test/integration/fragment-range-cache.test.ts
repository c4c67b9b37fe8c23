/**
 * FragmentRangeCache against the harness Redis: closed months in one bucket of bytes, the open
 * month per day, folding when a month closes, delta fetching across months, corrupt buckets,
 * buckets of the earlier inline layout, and the content tag.
 */
import { jest } from '@jest/globals';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { chunkByDay, type DayChunk } from '../../src/cache/range/day-chunks.js';
import { hashFragment } from '../../src/cache/range/fragment-bucket.js';
import { FragmentRangeCache } from '../../src/cache/range/fragment-range-cache.js';
import { daysOf } from '../../src/cache/range/range-days.js';
import { testRedis } from '../harness/test-env.js';
import { createCacheContext, uniquePrefix, type CacheContext } from '../support/cache-context.js';

interface Bar {
  date: string;
  close: number;
}

/** A bar on weekdays (by day number), none at weekends; records every range fetched. */
class BarSource {
  readonly calls: Array<[string, string]> = [];
  failFrom: string | undefined;

  barOf(date: string): Bar | undefined {
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    if (weekday === 0 || weekday === 6) return undefined;
    return { date, close: Number(date.replaceAll('-', '')) / 1e6 };
  }

  fetch = (_scope: string, from: string, to: string): AsyncIterable<DayChunk<Bar>> => {
    this.calls.push([from, to]);
    return chunkByDay(this.bars(from, to), (b) => b.date);
  };

  private async *bars(from: string, to: string): AsyncGenerator<Bar> {
    for (const d of daysOf(from, to)) {
      if (this.failFrom !== undefined && d >= this.failFrom) throw new Error('source down');
      const bar = this.barOf(d);
      if (bar) yield bar;
    }
  }

  expected(from: string, to: string): Bar[] {
    return daysOf(from, to).flatMap((d) => this.barOf(d) ?? []);
  }
}

let ctx: CacheContext;
let today = '2024-06-15';

beforeAll(async () => {
  ctx = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: uniquePrefix('frc') });
});

afterAll(async () => {
  await ctx?.close();
});

const dayKey = (s: string, d: string) => ctx.cache.keys.build(CacheKeyType.PRICE_BARS, s, d);
const monthKey = (s: string, m: string) => ctx.cache.keys.build(CacheKeyType.PRICE_BARS, s, m);

function rangeCache(source: BarSource): FragmentRangeCache<Bar, string> {
  return new FragmentRangeCache<Bar, string>(ctx.cache, {
    keyType: CacheKeyType.PRICE_BARS,
    dayKey,
    monthKey,
    fetch: source.fetch,
    ttl: { closedDaySeconds: 3600, liveDaySeconds: 60, today: () => today },
    isItem: (v) => typeof v === 'object' && v !== null && typeof (v as Bar).close === 'number',
  });
}

/** Stored keys of `scope`'s buckets. */
function storedKeys(scope: string): Promise<string[]> {
  return ctx.store.keys(`${ctx.cache.keys.prefix}:price_bars:${scope}:*`);
}

/** TTL left of a logical key, in ms. */
function ttlMsOf(key: string): Promise<number> {
  return ctx.store.ttl(`${ctx.cache.keys.prefix}:${key}`);
}

beforeEach(() => {
  today = '2024-06-15';
});

describe('FragmentRangeCache', () => {
  it('shares one read and one fetch between concurrent identical requests, and reads anew once they settle', async () => {
    const source = new BarSource();
    const cache = rangeCache(source);
    const texts = await Promise.all(
      Array.from({ length: 10 }, () => cache.getText('SHARE', '2024-02-01', '2024-02-29')),
    );
    expect(source.calls).toEqual([['2024-02-01', '2024-02-29']]);
    for (const t of texts) expect(t).toBe(texts[0]);
    const later = await cache.getText('SHARE', '2024-02-01', '2024-02-29');
    expect(later).not.toBe(texts[0]);
    expect(later.status).toBe('hit');
    expect(later.json).toBe(texts[0].json);
  });

  it('answers a five-year range from about 60 keys, and extending it by one day fetches exactly that day', async () => {
    const source = new BarSource();
    const cache = rangeCache(source);
    const cold = await cache.getText('FIVE', '2019-05-01', '2024-04-30');
    expect(cold.status).toBe('miss');
    expect(source.calls).toEqual([['2019-05-01', '2024-04-30']]);
    expect(JSON.parse(cold.json)).toEqual(source.expected('2019-05-01', '2024-04-30'));
    // Every month of the range is closed and wholly fetched: one bucket each, no day keys.
    const months = new Set(daysOf('2019-05-01', '2024-04-30').map((d) => d.slice(0, 7)));
    expect(months.size).toBe(60);
    for (const month of months) expect(await ctx.cache.get(monthKey('FIVE', month))).toBeDefined();
    expect(await storedKeys('FIVE')).toHaveLength(60);
    expect(await ctx.cache.get(dayKey('FIVE', '2020-03-02'))).toBeUndefined();

    source.calls.length = 0;
    const warm = await cache.getText('FIVE', '2019-05-01', '2024-04-30');
    expect(warm.status).toBe('hit');
    expect(warm.json).toBe(cold.json);
    expect(source.calls).toEqual([]);

    const longer = await cache.getText('FIVE', '2019-05-01', '2024-05-01');
    expect(source.calls).toEqual([['2024-05-01', '2024-05-01']]);
    expect(longer.status).toBe('partial');
    expect(longer.fetched).toEqual([['2024-05-01', '2024-05-01']]);
    expect(JSON.parse(longer.json)).toEqual(source.expected('2019-05-01', '2024-05-01'));
  });

  it('forms a month bucket when the month closes, serving the same bytes as the per-day answer', async () => {
    const source = new BarSource();
    const cache = rangeCache(source);
    today = '2024-05-20';
    const open = await cache.getText('FOLD', '2024-04-10', '2024-05-19');
    // May is open: per day; April is closed but known only from the 10th: per day too.
    expect(await ctx.cache.get(monthKey('FOLD', '2024-05'))).toBeUndefined();
    expect(await ctx.cache.get(dayKey('FOLD', '2024-05-06'))).toBeDefined();
    await cache.getText('FOLD', '2024-04-01', '2024-04-09');
    // April is now wholly known: folded into its bucket on that read.
    expect(await ctx.cache.get(monthKey('FOLD', '2024-04'))).toBeDefined();

    await cache.getText('FOLD', '2024-05-20', '2024-05-31');
    today = '2024-06-02';
    source.calls.length = 0;
    const closed = await cache.getText('FOLD', '2024-04-10', '2024-05-19');
    expect(source.calls).toEqual([]);
    expect(closed.status).toBe('hit');
    expect(closed.json).toBe(open.json);
    const may = await ctx.cache.get<{ o: number[]; b: string }>(monthKey('FOLD', '2024-05'));
    expect(may?.value.o).toHaveLength(32);

    // Served from the month buckets now: still the same bytes, and no day key is read.
    const again = await cache.getText('FOLD', '2024-04-10', '2024-05-19');
    expect(again.json).toBe(open.json);
    expect(again.tag).toBe(closed.tag);
  });

  it('treats a corrupt month bucket as a miss for that month only', async () => {
    const source = new BarSource();
    const cache = rangeCache(source);
    const first = await cache.getText('BAD', '2023-01-01', '2023-06-30');
    const counters = ctx.cache.countersOf(CacheKeyType.PRICE_BARS);
    const sound = (
      await ctx.cache.get<{ b: string; h: string; c?: number }>(monthKey('BAD', '2023-03'))
    )?.value as { b: string; h: string; c?: number };
    expect(typeof sound.c).toBe('number');
    // Same length, offsets still fit: only the checksum tells the bytes were changed ...
    const tampered = { ...sound, b: sound.b.replace('"close":20', '"close":99') };
    expect(tampered.b).not.toBe(sound.b);
    // ... or, in a bucket written before checksums (no `c`), its hash.
    const older: Partial<typeof tampered> = { ...tampered };
    delete older.c;
    for (const planted of [
      tampered,
      older,
      { ...sound, c: String(sound.c) },
      { at: Date.now(), n: 1, h: 'x', b: '{"date":"2023-03-01","close":0},' },
      { at: Date.now(), n: 1, h: hashFragment('{"nope":1},'), b: '{"nope":1},', o: [0, 11] },
      { at: 1e300, n: 0, h: hashFragment(''), b: '', o: new Array(32).fill(0) },
      'not a bucket',
    ]) {
      await ctx.cache.set(monthKey('BAD', '2023-03'), planted, { ttl: 3600 });
      const before = counters.corrupt;
      source.calls.length = 0;
      const again = await cache.getText('BAD', '2023-01-01', '2023-06-30');
      expect(source.calls).toEqual([['2023-03-01', '2023-03-31']]);
      expect(again.status).toBe('partial');
      expect(again.json).toBe(first.json);
      expect(counters.corrupt).toBe(before + 1);
      const rewritten = await ctx.cache.get<{ h: string }>(monthKey('BAD', '2023-03'));
      expect(typeof rewritten?.value.h).toBe('string');
      expect(rewritten?.value.h).not.toBe('x');
    }
  });

  it('serves a month bucket written before checksums (no `c`) when its hash holds', async () => {
    const source = new BarSource();
    const cache = rangeCache(source);
    const first = await cache.getText('PRE', '2023-01-01', '2023-06-30');
    const key = monthKey('PRE', '2023-03');
    const sound = (await ctx.cache.get<{ b: string; c?: number }>(key))?.value as { c?: number };
    const older = { ...sound };
    delete older.c;
    await ctx.cache.set(key, older, { ttl: 3600 });
    const counters = ctx.cache.countersOf(CacheKeyType.PRICE_BARS);
    const before = counters.corrupt;
    source.calls.length = 0;
    const again = await cache.getText('PRE', '2023-01-01', '2023-06-30');
    expect(source.calls).toEqual([]);
    expect(again.status).toBe('hit');
    expect(again.json).toBe(first.json);
    expect(again.tag).toBe(first.tag);
    expect(counters.corrupt).toBe(before);
  });

  it('serves days of the earlier inline layout without fetching, and refetches one whose bars fail the item check', async () => {
    const source = new BarSource();
    const cache = rangeCache(source);
    today = '2024-06-20';
    const bar = source.barOf('2024-06-03') as Bar;
    await ctx.cache.set(dayKey('OLD', '2024-06-03'), { at: Date.now(), items: [bar] }, { ttl: 60 });
    await ctx.cache.set(
      dayKey('OLD', '2024-06-04'),
      { at: Date.now(), items: [null] },
      { ttl: 60 },
    );
    const got = await cache.getText('OLD', '2024-06-03', '2024-06-04');
    expect(source.calls).toEqual([['2024-06-04', '2024-06-04']]);
    expect(JSON.parse(got.json)).toEqual(source.expected('2024-06-03', '2024-06-04'));
  });

  it('writes the days fetched before the source failed, then throws', async () => {
    const source = new BarSource();
    const cache = rangeCache(source);
    await cache.getText('GAP', '2024-02-10', '2024-02-12');
    source.failFrom = '2024-02-20';
    await expect(cache.getText('GAP', '2024-02-01', '2024-02-25')).rejects.toThrow('source down');
    expect(source.calls.slice(1)).toEqual([
      ['2024-02-01', '2024-02-09'],
      ['2024-02-13', '2024-02-25'],
    ]);
    expect(await ctx.cache.get(dayKey('GAP', '2024-02-05'))).toBeDefined();
    // A day is complete once a later day arrives. The source (grouped by day) failed before it
    // handed over the 19th, so the 16th was never known to be complete: not written.
    expect(await ctx.cache.get(dayKey('GAP', '2024-02-15'))).toBeDefined();
    expect(await ctx.cache.get(dayKey('GAP', '2024-02-16'))).toBeUndefined();
    expect(await ctx.cache.get(monthKey('GAP', '2024-02'))).toBeUndefined();
  });

  it('gives different tags to different contents and the same tag to the same answer', async () => {
    const source = new BarSource();
    const cache = rangeCache(source);
    const a = await cache.getText('TAG', '2023-01-01', '2023-03-31');
    const b = await cache.getText('TAG', '2023-01-01', '2023-03-31');
    const c = await cache.getText('TAG', '2023-01-01', '2023-03-30');
    expect(a.tag).toBe(b.tag);
    expect(c.tag).not.toBe(a.tag);
  });

  it('gives the live day the short TTL and the open month per-day keys', async () => {
    const source = new BarSource();
    const cache = rangeCache(source);
    await cache.getText('LIVE', '2024-06-10', '2024-06-15');
    expect(await ttlMsOf(dayKey('LIVE', '2024-06-15'))).toBeLessThanOrEqual(60_000);
    expect(await ttlMsOf(dayKey('LIVE', '2024-06-14'))).toBeGreaterThan(60_000);
    expect(await storedKeys('LIVE')).toHaveLength(6);
  });

  describe('with fill bounds (the days the source can answer)', () => {
    it('widens the gap over the rest of a closed month the range starts in, folds it, and the warm read then reads no key of it but its bucket', async () => {
      const source = new BarSource();
      const cache = rangeCache(source);
      const cold = await cache.getText('FILL', '2024-01-17', '2024-04-30', { from: '2020-01-01' });
      // One call, as without bounds, only starting at January's first day.
      expect(source.calls).toEqual([['2024-01-01', '2024-04-30']]);
      expect(cold.fetched).toEqual([['2024-01-01', '2024-04-30']]);
      expect(cold.status).toBe('miss');
      expect(JSON.parse(cold.json)).toEqual(source.expected('2024-01-17', '2024-04-30'));
      expect(await ctx.cache.get(monthKey('FILL', '2024-01'))).toBeDefined();
      expect(await storedKeys('FILL')).toHaveLength(4);

      source.calls.length = 0;
      const reads = jest.spyOn(ctx.store, 'pipelineGet');
      ctx.tiered.l1.clear();
      try {
        const warm = await cache.getText('FILL', '2024-01-17', '2024-04-30', {
          from: '2020-01-01',
        });
        expect(warm.status).toBe('hit');
        expect(warm.json).toBe(cold.json);
        expect(source.calls).toEqual([]);
        // One batch of the four month keys: no day key of January is read.
        expect(reads.mock.calls.map(([keys]) => keys.length)).toEqual([4]);
      } finally {
        reads.mockRestore();
      }
    });

    it('widens forward over the rest of a closed month the range ends in, never past the upper bound', async () => {
      const source = new BarSource();
      const cache = rangeCache(source);
      await cache.getText('FWD', '2024-02-01', '2024-03-10', { to: '2024-03-20' });
      expect(source.calls).toEqual([['2024-02-01', '2024-03-20']]);
      // March is not wholly known (the bound stops at the 20th): per day, up to the bound only.
      expect(await ctx.cache.get(monthKey('FWD', '2024-03'))).toBeUndefined();
      expect(await ctx.cache.get(dayKey('FWD', '2024-03-20'))).toBeDefined();
      expect(await ctx.cache.get(dayKey('FWD', '2024-03-21'))).toBeUndefined();
    });

    it('never fetches before the lower bound, nor adds a source call for a month whose requested days are all cached', async () => {
      const source = new BarSource();
      const cache = rangeCache(source);
      await cache.getText('LOW', '2024-02-10', '2024-02-20');
      expect(source.calls).toEqual([['2024-02-10', '2024-02-20']]);
      source.calls.length = 0;
      // Every requested day is cached: no call, although February is not wholly known.
      const warm = await cache.getText('LOW', '2024-02-12', '2024-02-18', { from: '2024-01-01' });
      expect(warm.status).toBe('hit');
      expect(source.calls).toEqual([]);
      // A gap at the range's start widens back only to the bound.
      const wider = await cache.getText('LOW', '2024-02-05', '2024-02-20', { from: '2024-02-03' });
      expect(source.calls).toEqual([['2024-02-03', '2024-02-09']]);
      expect(wider.status).toBe('partial');
      expect(wider.cachedDays).toBe(11);
      expect(JSON.parse(wider.json)).toEqual(source.expected('2024-02-05', '2024-02-20'));
      expect(await ctx.cache.get(dayKey('LOW', '2024-02-02'))).toBeUndefined();
    });

    it('refuses a bound that is not a date, naming it', () => {
      const cache = rangeCache(new BarSource());
      expect(() => cache.getText('BAD', '2024-02-01', '2024-02-02', { to: '2024-13-01' })).toThrow(
        /fill\.to/,
      );
    });
  });
});
