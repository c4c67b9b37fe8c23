/**
 * The read and write paths between the layers (issue 10, "no loss between layers"), without
 * Redis: the envelope codec walks each value once (depth, `__proto__`, freeze), and `getOrSet`
 * with L1 off keeps single-flight, counters and error handling while it runs on plain promise
 * chains instead of async frames.
 */
import { CacheKeyBuilder } from '../../src/cache/keys/cache-key-builder.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { CacheTTLPolicy } from '../../src/cache/keys/cache-ttl-policy.js';
import { MemoryStore } from '../../src/cache/stores/memory-store.js';
import { MAX_VALUE_DEPTH, decodeJsonValue, readEntry } from '../../src/cache/tiered/cache-entry.js';
import { TieredCache } from '../../src/cache/tiered/tiered-cache.js';
import type { TieredCacheOptions } from '../../src/cache/tiered/tiered-cache.options.js';
import { MAX_REMEMBERED_KEY_LENGTH, ResolvedKeys } from '../../src/cache/tiered/resolved-keys.js';

const AS_OF = Date.UTC(2024, 2, 15, 12);
const FAR = Date.UTC(2099, 0, 1);
const envelope = (valueJson: string) =>
  `{"v":${valueJson},"a":${AS_OF},"s":${FAR},"e":${FAR},"k":${FAR}}`;
/** `depth` nested arrays around a number: `[[[1]]]` is depth 3. */
const nested = (depth: number) => '['.repeat(depth) + '1' + ']'.repeat(depth);

function options(l1MaxItemBytes: number): TieredCacheOptions {
  return {
    l1: { maxEntries: 1000, maxBytes: 1 << 20, maxItemBytes: l1MaxItemBytes },
    swrPercent: 20,
    hardTimeoutMs: 2000,
    failSafeThrottleMs: 1000,
    maxValueBytes: 1 << 20,
  };
}

/** A tiered cache over `store`; `l1MaxItemBytes: 1` keeps every value out of L1 (L1 off). */
function tieredOver(store: MemoryStore, l1MaxItemBytes = 1): TieredCache {
  return new TieredCache(store, new CacheKeyBuilder('ly'), new CacheTTLPolicy(), {
    ...options(l1MaxItemBytes),
  });
}

/** Whether every object and array under `value` is frozen. */
function deeplyFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(deeplyFrozen);
}

describe('the envelope codec (one walk per value)', () => {
  it.each([
    ['at the top of the envelope', `{"__proto__":{"x":1},"v":1,"a":1,"s":2,"e":3,"k":4}`],
    ['at the top of the value', envelope('{"price":1,"__proto__":{"polluted":true}}')],
    ['in an object inside an array', envelope('{"rows":[{"x":1},{"__proto__":{"y":2}}]}')],
    ['spelled with escapes', envelope('{"rows":[{"\\u005f_proto__":{"polluted":true}}]}')],
  ])('refuses a "__proto__" key %s', (_where, text) => {
    expect(readEntry(text, undefined)).toBe('proto');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts "__proto__" as a string value and keys that merely look like it', () => {
    const entry = readEntry<Record<string, unknown>>(
      envelope('{"name":"__proto__","__proto":1,"proto__":2,"list":["__proto__"]}'),
      CacheKeyType.NEWS_DATA,
    );
    expect(entry).toMatchObject({
      value: { name: '__proto__', __proto: 1, proto__: 2, list: ['__proto__'] },
      asOf: AS_OF,
      keyType: CacheKeyType.NEWS_DATA,
    });
  });

  it(`counts depth exactly: ${MAX_VALUE_DEPTH} levels are an entry, ${MAX_VALUE_DEPTH + 1} are not`, () => {
    expect(readEntry(envelope(nested(MAX_VALUE_DEPTH)), undefined)).toMatchObject({
      asOf: AS_OF,
    });
    expect(readEntry(envelope(nested(MAX_VALUE_DEPTH + 1)), undefined)).toBe('depth');
    expect(readEntry(envelope(`{"a":${nested(MAX_VALUE_DEPTH)}}`), undefined)).toBe('depth');
    expect(decodeJsonValue(nested(MAX_VALUE_DEPTH))).toBeDefined();
    expect(decodeJsonValue(nested(MAX_VALUE_DEPTH + 1))).toBeUndefined();
  });

  it('tells non-JSON, wrong shapes and bad timelines apart', () => {
    expect(readEntry('not json', undefined)).toBe('json');
    expect(readEntry('{"price":1}', undefined)).toBe('shape');
    expect(readEntry('[1,2]', undefined)).toBe('shape');
    expect(readEntry(`{"v":1,"a":${AS_OF},"s":3,"e":2,"k":4}`, undefined)).toBe('shape');
    expect(readEntry(`{"v":1,"a":-1,"s":1,"e":2,"k":3}`, undefined)).toBe('shape');
  });

  it('hands out values deep-frozen, arrays and nested objects included', () => {
    const entry = readEntry<{ rows: { x: number[] }[]; meta: { a: { b: number } } }>(
      envelope('{"rows":[{"x":[1,2]},{"x":[3]}],"meta":{"a":{"b":1}},"n":null}'),
      undefined,
    );
    if (typeof entry === 'string') throw new Error(`refused: ${entry}`);
    expect(deeplyFrozen(entry.value)).toBe(true);
    expect(() => entry.value.rows[1].x.push(4)).toThrow(TypeError);
    expect(() => {
      entry.value.meta.a.b = 2;
    }).toThrow(TypeError);
    expect(decodeJsonValue('{"a":{"b":[1]}}')).toEqual({ a: { b: [1] } });
    expect(Object.isFrozen(decodeJsonValue('{"a":{"b":[1]}}'))).toBe(false);
  });

  it('refuses on write what a reader would refuse, with the reason: depth, a cycle, a "__proto__" key', async () => {
    const tiered = tieredOver(new MemoryStore(), 1 << 20);
    const deep = JSON.parse(nested(MAX_VALUE_DEPTH + 1)) as unknown;
    await expect(tiered.set('market_data:deep', deep)).rejects.toMatchObject({
      code: 'CACHE_SERIALIZATION',
      message: expect.stringMatching(`deeper than ${MAX_VALUE_DEPTH} levels`),
    });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    await expect(tiered.set('market_data:cycle', cyclic)).rejects.toMatchObject({
      code: 'CACHE_SERIALIZATION',
      message: expect.stringMatching(/circular/i),
    });
    const proto = JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as unknown;
    await expect(tiered.set('market_data:proto', proto)).rejects.toMatchObject({
      code: 'CACHE_INVALID_OPTION',
      field: 'value',
    });
    expect(await tiered.set('market_data:ok', JSON.parse(nested(MAX_VALUE_DEPTH)))).toBe(true);
    expect(deeplyFrozen((await tiered.get('market_data:ok'))?.value)).toBe(true);
  });
});

/** A memory store that counts reads and can be told to fail them. */
class CountingStore extends MemoryStore {
  gets = 0;
  failNext: 'throw' | 'reject' | undefined;

  override get(key: string): Promise<string | undefined> {
    this.gets++;
    const fail = this.failNext;
    this.failNext = undefined;
    if (fail === 'throw') throw new Error('store threw');
    if (fail === 'reject') return Promise.reject(new Error('store rejected'));
    return super.get(key);
  }
}

/** A memory store whose reads can fail (answered as a miss and counted as errors), counting lock attempts. */
class FailingReads extends MemoryStore {
  failing = true;
  failures = 0;
  locks = 0;

  override get(key: string): Promise<string | undefined> {
    if (!this.failing) return super.get(key);
    this.failures++;
    return Promise.resolve(undefined);
  }

  override getStats() {
    return { ...super.getStats(), errors: this.failures };
  }

  override errorCount(): number {
    return this.failures;
  }

  override acquireLock(key: string, token: string, ttlMs: number): Promise<'acquired' | 'busy'> {
    this.locks++;
    return super.acquireLock(key, token, ttlMs);
  }
}

describe('getOrSet with L1 off (every value read from L2)', () => {
  const factory = () => {
    throw new Error('the factory must not run: the value is in L2');
  };

  it('shares one L2 read between concurrent callers of a key, then reads again', async () => {
    const store = new CountingStore();
    const tiered = tieredOver(store);
    await tiered.set('market_data:one', { v: 1 });
    expect(tiered.l1.size).toBe(0);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => tiered.getOrSetResult('market_data:one', factory)),
    );
    expect(results.map((r) => r.value)).toEqual(Array(10).fill({ v: 1 }));
    expect(results.every((r) => r.source === 'l2' && r === results[0])).toBe(true);
    expect(store.gets).toBe(1);
    expect(await tiered.getOrSet('market_data:one', factory)).toEqual({ v: 1 });
    expect(store.gets).toBe(2);
    const counters = tiered.stats.of(CacheKeyType.MARKET_DATA);
    expect(counters).toMatchObject({ l1Misses: 11, l2Hits: 2, l2Misses: 0, factoryCalls: 0 });
  });

  it('answers values from L2 deep-frozen', async () => {
    const tiered = tieredOver(new MemoryStore());
    await tiered.set('market_data:nested', { rows: [{ x: [1] }] });
    const value = await tiered.getOrSet('market_data:nested', factory);
    expect(deeplyFrozen(value)).toBe(true);
    const [batched] = await tiered.getMany(['market_data:nested']);
    expect(deeplyFrozen(batched)).toBe(true);
  });

  it('never throws synchronously: a bad key is a rejected promise', async () => {
    const tiered = tieredOver(new MemoryStore());
    let pending: Promise<unknown> | undefined;
    expect(() => (pending = tiered.getOrSet('bad*key', factory))).not.toThrow();
    await expect(pending).rejects.toMatchObject({ code: 'CACHE_INVALID_KEY', field: 'key' });
    expect(() => (pending = tiered.getOrSetResult('', factory))).not.toThrow();
    await expect(pending).rejects.toMatchObject({ code: 'CACHE_INVALID_KEY' });
  });

  it.each(['throw', 'reject'] as const)(
    'a store read that fails (%s) rejects that call and leaves nothing in flight',
    async (how) => {
      const store = new CountingStore();
      const tiered = tieredOver(store);
      await tiered.set('market_data:flaky', 7);
      store.failNext = how;
      await expect(tiered.getOrSet('market_data:flaky', factory)).rejects.toThrow(/store/);
      expect(await tiered.getOrSet('market_data:flaky', factory)).toBe(7);
      expect(store.gets).toBe(2);
    },
  );

  it.each([
    ['errorCount()', (_store: FailingReads) => undefined],
    [
      'getStats() only',
      (store: FailingReads) => Object.defineProperty(store, 'errorCount', { value: undefined }),
    ],
  ])(
    'skips the lock after an L2 read that failed, seen through %s; takes it after a plain miss',
    async (_how, strip) => {
      const store = new FailingReads();
      strip(store);
      const tiered = tieredOver(store);
      expect(await tiered.getOrSet('market_data:down', () => 'from source')).toBe('from source');
      expect(store.locks).toBe(0);
      store.failing = false;
      expect(await tiered.getOrSet('market_data:cold', () => 'cold')).toBe('cold');
      expect(store.locks).toBe(1);
    },
  );

  it('a bad TTL on an L2 hit rejects and leaves nothing in flight', async () => {
    const tiered = tieredOver(new MemoryStore());
    await tiered.set('market_data:ttl', 'v');
    await expect(
      tiered.getOrSet('market_data:ttl', factory, { ttl: 'soon' }),
    ).rejects.toMatchObject({ code: 'CACHE_INVALID_TTL' });
    expect(await tiered.getOrSet('market_data:ttl', factory)).toBe('v');
  });

  it('a corrupt L2 value is deleted and counted, and the factory answers', async () => {
    const store = new MemoryStore();
    const tiered = tieredOver(store);
    await store.set('ly:market_data:bad', envelope('{"__proto__":{"x":1}}'), 60_000);
    const r = await tiered.getOrSetResult('market_data:bad', () => ({ fresh: true }));
    expect(r).toMatchObject({ source: 'factory', value: { fresh: true } });
    expect(tiered.stats.of(CacheKeyType.MARKET_DATA)).toMatchObject({
      corrupt: 1,
      l2Misses: 1,
      factoryCalls: 1,
    });
    await tiered.drain();
    expect(JSON.parse((await store.get('ly:market_data:bad')) as string)).toMatchObject({
      v: { fresh: true },
    });
  });
});

describe('L1 in the batch and write paths', () => {
  it('a value L1 refuses drops the older L1 entry of its key (never served again)', async () => {
    const tiered = tieredOver(new MemoryStore(), 100);
    await tiered.set('market_data:grow', 'small');
    expect(tiered.l1.size).toBe(1);
    await tiered.set('market_data:grow', 'x'.repeat(200));
    expect(tiered.l1.size).toBe(0);
    expect(await tiered.getOrSet('market_data:grow', () => 'factory')).toBe('x'.repeat(200));
  });

  it('pipelineGet with an empty L1 counts an L1 miss and an L2 hit or miss per key, under its type', async () => {
    const tiered = tieredOver(new MemoryStore());
    await tiered.setMany([
      { key: 'news_data:A:x', value: 1 },
      { key: 'stock_price:A:latest', value: 2 },
    ]);
    expect(tiered.l1.size).toBe(0);
    const values = await tiered.getMany(['news_data:A:x', 'stock_price:A:latest', 'news_data:B:y']);
    expect(values).toEqual([1, 2, undefined]);
    expect(tiered.stats.of(CacheKeyType.NEWS_DATA)).toMatchObject({
      l1Misses: 2,
      l2Hits: 1,
      l2Misses: 1,
    });
    expect(tiered.stats.of(CacheKeyType.STOCK_PRICE)).toMatchObject({ l1Misses: 1, l2Hits: 1 });
  });

  it('pipelineGet names the position of a bad key', async () => {
    const tiered = tieredOver(new MemoryStore());
    await expect(tiered.getMany(['market_data:ok', 'bad key'])).rejects.toMatchObject({
      code: 'CACHE_INVALID_KEY',
      field: 'keys[1]',
    });
  });
});

describe('keys resolved once and remembered', () => {
  it("answers a repeated key with the same resolution, the caller's key type over the key's own", () => {
    const keys = new CacheKeyBuilder('ly');
    const resolved = new ResolvedKeys(keys, 3);
    const first = resolved.resolve('news_data:A:x', undefined);
    expect(first).toEqual({ storageKey: 'ly:news_data:A:x', type: CacheKeyType.NEWS_DATA });
    expect(resolved.resolve('news_data:A:x', undefined)).toBe(first);
    expect(resolved.resolve('news_data:A:x', CacheKeyType.NEWS_DATA)).toBe(first);
    expect(resolved.resolve('news_data:A:x', CacheKeyType.MARKET_DATA)).toEqual({
      storageKey: 'ly:news_data:A:x',
      type: CacheKeyType.MARKET_DATA,
    });
    expect(resolved.resolve('plain', undefined)).toEqual({
      storageKey: 'ly:plain',
      type: undefined,
    });
    expect(resolved.resolve('plain', undefined)).toEqual(keys.resolve('plain'));
  });

  it('never remembers a bad key: it throws on every call, naming the field', () => {
    const resolved = new ResolvedKeys(new CacheKeyBuilder('ly'));
    for (let i = 0; i < 2; i++)
      expect(() => resolved.resolve('bad*key', undefined, 'keys[3]')).toThrow(
        expect.objectContaining({ code: 'CACHE_INVALID_KEY', field: 'keys[3]' }),
      );
    expect(resolved.size).toBe(0);
  });

  it('holds at most its bound, forgetting the oldest, and never a key past the length bound', () => {
    const resolved = new ResolvedKeys(new CacheKeyBuilder('ly'), 3);
    const a = resolved.resolve('market_data:a', undefined);
    for (const k of ['b', 'c', 'd']) resolved.resolve(`market_data:${k}`, undefined);
    expect(resolved.size).toBe(3);
    expect(resolved.resolve('market_data:d', undefined)).toBe(
      resolved.resolve('market_data:d', undefined),
    );
    expect(resolved.resolve('market_data:a', undefined)).not.toBe(a); // forgotten, resolved again
    const long = 'market_data:' + 'x'.repeat(MAX_REMEMBERED_KEY_LENGTH);
    const size = resolved.size;
    expect(resolved.resolve(long, undefined).storageKey).toBe(`ly:${long}`);
    expect(resolved.resolve(long, undefined)).not.toBe(resolved.resolve(long, undefined));
    expect(resolved.size).toBe(size);
  });
});
