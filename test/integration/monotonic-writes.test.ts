/**
 * Monotonic writes (issue 14): a write whose `asOf` is older than the stored entry's never
 * replaces it, in L2 (one Lua script on Redis) and in every instance's L1 (bus messages carry the
 * written `asOf`). Two instances (A and B) share one harness Redis — standalone, then the cluster.
 *
 * "Started before / finishes after" is event ordering: each slow factory is a promise resolved by
 * hand once the fresher write is done. Only `Date` is faked (timelines and `asOf` move at once; I/O,
 * timers and the bus keep real time), so that the fresher write is a whole second newer.
 */
import { jest } from '@jest/globals';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import type { MarketCacheModuleOptions } from '../../src/cache/market-cache.options.js';
import { decodeEntry } from '../../src/cache/tiered/cache-entry.js';
import type { FactoryContext } from '../../src/cache/tiered/tiered-cache.options.js';
import { testCluster, testRedis } from '../harness/test-env.js';
import {
  createCacheContext,
  uniquePrefix,
  waitFor,
  type CacheContext,
} from '../support/cache-context.js';
import { REAL_EXCEPT_DATE } from '../support/fake-time.js';

const T0 = Date.parse('2026-12-02T09:00:00Z');
const BARRIER = 'market_data:mono-barrier';

/** A factory the test finishes by hand: `started` resolves when the cache calls it (with its context). */
function slowFactory<T>(value: T) {
  let finish!: () => void;
  const gate = new Promise<void>((r) => (finish = r));
  let markStarted!: (context: FactoryContext) => void;
  const started = new Promise<FactoryContext>((r) => (markStarted = r));
  const factory = async (context: FactoryContext): Promise<T> => {
    markStarted(context);
    await gate;
    return value;
  };
  return { factory, started, finish };
}

const setups: Array<[string, () => Partial<MarketCacheModuleOptions>]> = [
  ['standalone Redis', () => ({ redisUrl: testRedis().url })],
  ['Redis Cluster', () => ({ clusterNodes: testCluster().nodeList.split(',') })],
];

describe.each(setups)('monotonic writes on %s', (_label, target) => {
  let a: CacheContext;
  let b: CacheContext;
  let round = 0;

  /** Moves the faked clock on by `ms`. */
  function advance(ms: number): void {
    jest.setSystemTime(Date.now() + ms);
  }

  /** The value L2 holds for `key`, read raw from Redis and decoded. */
  async function inL2(key: string): Promise<unknown> {
    const raw = await a.store.get(a.tiered.keys.resolve(key).storageKey);
    return raw === undefined ? undefined : decodeEntry(raw, undefined)?.value;
  }

  /** The value `ctx`'s L1 holds for `key` (no read of L2). */
  function inL1(ctx: CacheContext, key: string): unknown {
    return ctx.tiered.l1.get(ctx.tiered.keys.resolve(key).storageKey)?.value;
  }

  /** Resolves once `to` has applied every bus message `from` sent before this call (same channel, same order). */
  async function delivered(from: CacheContext, to: CacheContext): Promise<void> {
    round++;
    await to.cache.set(BARRIER, `to${round}`); // held in `to`'s L1 until `from`'s message evicts it
    await from.cache.set(BARRIER, `from${round}`);
    await waitFor(() => inL1(to, BARRIER) === undefined, 10_000);
  }

  beforeAll(async () => {
    const options: MarketCacheModuleOptions = { ...target(), keyPrefix: uniquePrefix('mono') };
    a = await createCacheContext(options);
    b = await createCacheContext(options);
    await waitFor(() => a.tiered.busConnected && b.tiered.busConnected, 10_000);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: [...REAL_EXCEPT_DATE], now: T0 + round * 3_600_000 });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('a background refresh that started before a fresher set leaves the fresher value in L2 and both L1s', async () => {
    const key = 'stock_price:MONO1:latest';
    const t0 = Date.now();
    // B holds a value that turns stale (SWR: the last 20 % of its 300 s TTL).
    await b.cache.getOrSet(key, () => 'v0');
    await delivered(b, a);
    advance(250_000);
    const refresh = slowFactory('refreshed (older)');
    expect(await b.cache.getOrSetResult(key, refresh.factory)).toMatchObject({
      value: 'v0',
      source: 'stale',
    });
    const context = await refresh.started; // the refresh is running on B
    expect(context).toMatchObject({ kind: 'refresh', staleAsOf: t0 });
    advance(1_000);
    expect(await a.cache.set(key, 'fresh')).toBe(true); // the fresher write, on A
    await delivered(a, b); // B evicted its v0 before the refresh ends: nothing else evicts its result
    refresh.finish(); // the refresh finishes after it
    await b.tiered.drain();
    await delivered(b, a);
    expect(await inL2(key)).toBe('fresh');
    expect(b.tiered.stats.of(CacheKeyType.STOCK_PRICE).keptNewer).toBeGreaterThanOrEqual(1);
    expect(inL1(a, key)).toBe('fresh');
    // B dropped its older value when L2 kept the newer one: its next read fetches the fresher.
    expect(inL1(b, key)).toBeUndefined();
    expect(await b.cache.lookup(key)).toMatchObject({ value: 'fresh' });
    expect(inL1(b, key)).toBe('fresh');
  });

  it('a miss whose factory started before a fresher set: the caller gets its own value, L2 and both L1s the fresher', async () => {
    const key = 'stock_price:MONO2:latest';
    const slow = slowFactory('slow (older)');
    const pending = b.cache.getOrSetResult(key, slow.factory);
    expect(await slow.started).toEqual({ kind: 'miss' });
    advance(1_000);
    expect(await a.cache.set(key, 'fresh')).toBe(true);
    await delivered(a, b);
    slow.finish();
    // What the factory produced is what its caller gets.
    expect(await pending).toMatchObject({ value: 'slow (older)', source: 'factory' });
    await b.tiered.drain();
    await delivered(b, a);
    expect(await inL2(key)).toBe('fresh');
    expect(inL1(a, key)).toBe('fresh');
    expect(inL1(b, key)).toBeUndefined();
    expect(await b.cache.lookup(key)).toMatchObject({ value: 'fresh' });
  });

  it('a newer write replaces an older one everywhere (set with an explicit asOf)', async () => {
    const key = 'market_data:MONO3';
    const now = Date.now();
    await a.cache.set(key, 'older', { asOf: now - 5_000 });
    expect(await b.cache.getOrSet(key, () => 'unused')).toBe('older');
    await a.cache.set(key, 'stale write', { asOf: now - 10_000 });
    expect(await inL2(key)).toBe('older');
    expect(inL1(a, key)).toBe('older');
    await b.cache.set(key, 'newer', { asOf: now });
    await delivered(b, a);
    expect(await inL2(key)).toBe('newer');
    expect(inL1(a, key)).toBeUndefined();
    expect(await a.cache.lookup(key)).toMatchObject({ value: 'newer' });
  });

  it('batch writes compare each entry: older ones keep the stored value, in L2 and both L1s', async () => {
    const now = Date.now();
    const [k1, k2, k3] = ['market_data:MONO4a', 'market_data:MONO4b', 'market_data:MONO4c'];
    await a.cache.set(k1, 'k1 newer', { asOf: now });
    await a.cache.set(k2, 'k2 older', { asOf: now - 60_000 });
    await delivered(a, b);
    expect(await b.cache.getOrSet(k1, () => 'unused')).toBe('k1 newer');
    expect(await b.cache.getOrSet(k2, () => 'unused')).toBe('k2 older');
    expect(
      await a.cache.pipelineSet([
        { key: k1, value: 'k1 late', asOf: now - 30_000 },
        { key: k2, value: 'k2 fresh', asOf: now - 1_000 },
        { key: k3, value: 'k3', asOf: now - 1_000 },
      ]),
    ).toBe(true);
    await delivered(a, b);
    expect([await inL2(k1), await inL2(k2), await inL2(k3)]).toEqual([
      'k1 newer',
      'k2 fresh',
      'k3',
    ]);
    // A's L1: the refused entry was dropped (or never replaced the newer one); B kept its newer k1.
    expect(inL1(a, k1)).not.toBe('k1 late');
    expect(inL1(b, k1)).toBe('k1 newer');
    expect(inL1(b, k2)).toBeUndefined();
    expect(await b.cache.pipelineGet([k1, k2, k3])).toEqual(['k1 newer', 'k2 fresh', 'k3']);
    expect(await a.cache.pipelineGet([k1, k2, k3])).toEqual(['k1 newer', 'k2 fresh', 'k3']);
  });

  it('a bus message without asOf (an older sender, or an invalidation) still evicts', async () => {
    const key = 'market_data:MONO5';
    await b.cache.set(key, 'held', { asOf: Date.now() });
    const storageKey = b.tiered.keys.resolve(key).storageKey;
    b.tiered.onBusMessage({ kind: 'keys', keys: [storageKey], asOf: [Date.now() - 1] });
    expect(inL1(b, key)).toBe('held'); // an older write's message leaves a newer entry
    b.tiered.onBusMessage({ kind: 'keys', keys: [storageKey] });
    expect(inL1(b, key)).toBeUndefined();
  });
});
