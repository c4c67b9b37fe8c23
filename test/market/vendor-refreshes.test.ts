/**
 * Deferred vendor refreshes run hottest first across the fleet, not only within one instance:
 * two `VendorRefreshes` on one Redis, each holding different refreshes, the one with the cooler
 * refreshes polling the budget first. Tokens are a gate the test opens; the order is the order in
 * which the vendor (the factories) is called.
 */
import { Redis } from 'ioredis';
import {
  SourceBudgetExhaustedError,
  type BudgetGrant,
  type RefreshBudget,
} from '../../src/cache/budget/refresh-budget.js';
import {
  StoreRefreshWaitingList,
  type RefreshWaitingList,
} from '../../src/cache/budget/refresh-waiting-list.js';
import { CacheKeyBuilder } from '../../src/cache/keys/cache-key-builder.js';
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { CacheTTLPolicy } from '../../src/cache/keys/cache-ttl-policy.js';
import { MemoryStore } from '../../src/cache/stores/memory-store.js';
import { RedisCache } from '../../src/cache/stores/redis/redis-cache.js';
import { VendorBudget } from '../../src/market/vendor-budget.js';
import { VendorRefreshes } from '../../src/market/vendor-refreshes.js';
import { freePort } from '../harness/redis-server.js';
import { testRedis } from '../harness/test-env.js';
import {
  createCacheContext,
  sleep,
  uniquePrefix,
  waitFor,
  type CacheContext,
} from '../support/cache-context.js';

/** Tokens behind a gate the test opens; while closed every take is refused with `retryAfterMs`. */
class GateBudget implements RefreshBudget {
  constructor(
    private readonly gate: { open: boolean },
    private readonly retryAfterMs: number,
  ) {}

  async take(_name: string, cost: number): Promise<BudgetGrant> {
    const granted = cost === 0 || this.gate.open;
    return {
      granted,
      remaining: granted ? 10 : 0,
      retryAfterMs: granted ? 0 : this.retryAfterMs,
      scope: 'shared',
    };
  }
}

const SETTINGS = {
  enabled: true,
  name: 'vendor',
  limits: { perWindow: 10, perDay: 0, windowMs: 60_000 },
  missReservePercent: 20,
};

describe('VendorRefreshes: deferred refreshes hottest first across instances', () => {
  const contexts: CacheContext[] = [];
  const instances: VendorRefreshes[] = [];

  afterEach(async () => {
    await Promise.all(instances.splice(0).map((r) => r.close()));
    await Promise.all(contexts.splice(0).map((c) => c.close()));
  });

  /** One instance on the shared Redis: its refreshes, its budget (retry after `retryAfterMs` while the gate is closed), the vendor calls it made. */
  async function instance(
    prefix: string,
    gate: { open: boolean },
    retryAfterMs: number,
    calls: string[],
    options: { yieldGraceMs?: number; waiting?: boolean } = {},
  ) {
    const ctx = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: prefix });
    contexts.push(ctx);
    const keys = ctx.app.get(CacheKeyBuilder);
    const budget = new VendorBudget(new GateBudget(gate, retryAfterMs), SETTINGS);
    const refreshes = new VendorRefreshes(
      ctx.cache,
      ctx.app.get(CacheTTLPolicy),
      ctx.store,
      keys,
      budget,
      {
        waiting:
          options.waiting === false ? undefined : new StoreRefreshWaitingList(ctx.store, keys),
        yieldGraceMs: options.yieldGraceMs ?? 5000,
      },
    );
    instances.push(refreshes);
    /** `ticker` asked `hits` times here, then its refresh refused by the budget (so deferred). */
    const defer = async (ticker: string, hits: number) => {
      for (let i = 0; i < hits; i++) refreshes.hit(ticker);
      const key = `stock_price:${ticker}:latest`;
      const factory = async () => {
        await budget.acquire();
        calls.push(ticker);
        return { ticker, price: 1 };
      };
      await expect(
        refreshes.wrap(key, CacheKeyType.STOCK_PRICE, factory)({ kind: 'refresh' }),
      ).rejects.toBeInstanceOf(SourceBudgetExhaustedError);
    };
    return { refreshes, defer, keys };
  }

  it('an instance holding cooler refreshes leaves the first token to the one holding the hottest', async () => {
    const prefix = uniquePrefix('vrf');
    const gate = { open: false };
    const calls: string[] = [];
    // A holds the hottest ticker and looks at the budget late; B holds cooler ones and looks often.
    const a = await instance(prefix, gate, 400, calls);
    const b = await instance(prefix, gate, 20, calls);
    await a.defer('HOT', 50);
    await b.defer('WARM', 30);
    await b.defer('COOL', 10);
    expect(a.refreshes.pending + b.refreshes.pending).toBe(3);
    gate.open = true;
    await waitFor(() => calls.length === 3, 10_000);
    expect(calls).toEqual(['HOT', 'WARM', 'COOL']);
    // Everything run is off both instances and off the fleet's list (once the last write is done).
    const list = new StoreRefreshWaitingList(contexts[0].store, a.keys);
    await waitFor(async () => (await list.top('vendor')) === undefined);
    expect(a.refreshes.pending + b.refreshes.pending).toBe(0);
  });

  it('while another instance holds the lock of the hottest refresh, spends no token on a cooler one', async () => {
    const prefix = uniquePrefix('vrf');
    const gate = { open: false };
    const calls: string[] = [];
    const b = await instance(prefix, gate, 20, calls);
    await b.defer('HOT', 50);
    await b.defer('WARM', 30);
    // Another instance is running HOT (its lock held), and may yet be refused by the budget.
    const store = contexts[0].store;
    const lockKey = b.keys.lockKey(b.keys.storageKey('stock_price:HOT:latest'));
    expect(await store.acquireLock(lockKey, 'other', 30_000)).toBe('acquired');
    gate.open = true;
    await sleep(400);
    expect(calls).toEqual([]);
    expect(b.refreshes.pending).toBe(2);
    // That instance let go without running it: this one runs it, then the cooler one.
    await store.releaseLock(lockKey, 'other');
    await waitFor(() => calls.length === 2, 10_000);
    expect(calls).toEqual(['HOT', 'WARM']);
  });

  it('without the shared list each instance orders only its own (the race the list closes)', async () => {
    const prefix = uniquePrefix('vrf');
    const gate = { open: false };
    const calls: string[] = [];
    const a = await instance(prefix, gate, 400, calls, { waiting: false });
    const b = await instance(prefix, gate, 20, calls, { waiting: false });
    await a.defer('HOT', 50);
    await b.defer('WARM', 30);
    await b.defer('COOL', 10);
    gate.open = true;
    await waitFor(() => calls.length === 3, 10_000);
    expect(calls).toEqual(['WARM', 'COOL', 'HOT']);
  });

  /**
   * A defers the hottest refresh, then does not look at the budget again for a minute; B defers a
   * cooler one and looks every 20 ms, waiting at most `yieldGraceMs` for A. The gate is closed.
   */
  async function idleHolder(yieldGraceMs: number) {
    const prefix = uniquePrefix('vrf');
    const gate = { open: false };
    const calls: string[] = [];
    const a = await instance(prefix, gate, 60_000, calls);
    const b = await instance(prefix, gate, 20, calls, { yieldGraceMs });
    await a.defer('HOT', 50);
    await b.defer('WARM', 30);
    const list = new StoreRefreshWaitingList(contexts[1].store, b.keys);
    return { a, gate, calls, list };
  }

  it('does not wait past the grace for an instance that never runs its refresh, and takes it off the list', async () => {
    const { a, gate, calls, list } = await idleHolder(300);
    expect((await list.top('vendor'))?.key).toBe('stock_price:HOT:latest');
    const opened = performance.now();
    gate.open = true;
    await waitFor(() => calls.length === 1, 10_000);
    expect(calls).toEqual(['WARM']);
    // It waited for A first (a lower bound: a loaded machine only makes it later).
    expect(performance.now() - opened).toBeGreaterThanOrEqual(250);
    // HOT was taken off as abandoned, WARM once run.
    await waitFor(async () => (await list.top('vendor')) === undefined);
    expect(a.refreshes.pending).toBe(1); // A still holds it, to run when it looks again
  });

  it('a stopping instance takes its refreshes off the list, so the others do not wait for them', async () => {
    const { a, gate, calls, list } = await idleHolder(60_000);
    await a.refreshes.close();
    expect((await list.top('vendor'))?.key).toBe('stock_price:WARM:latest');
    gate.open = true;
    await waitFor(() => calls.length === 1, 10_000);
    expect(calls).toEqual(['WARM']);
  });
});

describe('StoreRefreshWaitingList', () => {
  let redis: Redis | undefined;
  const contexts: CacheContext[] = [];
  afterAll(async () => {
    redis?.disconnect();
    await Promise.all(contexts.map((c) => c.close()));
  });

  async function list(maxEntries?: number): Promise<{ list: RefreshWaitingList; prefix: string }> {
    const prefix = uniquePrefix('wl');
    const ctx = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: prefix });
    contexts.push(ctx);
    return {
      list: new StoreRefreshWaitingList(ctx.store, ctx.app.get(CacheKeyBuilder), maxEntries),
      prefix,
    };
  }

  it('keeps the highest score announced for a key, answers the top, and carries a TTL of two windows', async () => {
    const { list: l, prefix } = await list();
    expect(l.shared).toBe(true);
    expect(await l.top('vendor')).toBeUndefined();
    await l.announce('vendor', 'stock_price:A:latest', 5, 10_000);
    await l.announce('vendor', 'stock_price:B:latest', 7, 10_000);
    await l.announce('vendor', 'stock_price:A:latest', 9, 10_000);
    await l.announce('vendor', 'stock_price:A:latest', 3, 10_000); // lower: kept at 9
    expect(await l.top('vendor')).toEqual({ key: 'stock_price:A:latest', score: 9 });
    redis = new Redis(testRedis().url);
    const key = `${prefix}:api_quota:{vendor}:budget:waiting`;
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(10_000);
    expect(ttl).toBeLessThanOrEqual(20_000);
    await l.withdraw('vendor', ['stock_price:A:latest']);
    expect(await l.top('vendor')).toEqual({ key: 'stock_price:B:latest', score: 7 });
    await l.withdraw('vendor', ['stock_price:B:latest', 'stock_price:none:latest']);
    expect(await l.top('vendor')).toBeUndefined();
  });

  it('holds at most maxEntries keys, dropping the least demanded', async () => {
    const { list: l, prefix } = await list(3);
    for (const [k, s] of [
      ['a', 4],
      ['b', 1],
      ['c', 3],
      ['d', 2],
      ['e', 5],
    ] as const)
      await l.announce('vendor', k, s, 10_000);
    redis ??= new Redis(testRedis().url);
    const members = await redis.zrange(`${prefix}:api_quota:{vendor}:budget:waiting`, 0, -1);
    expect(members).toEqual(['c', 'a', 'e']);
    expect(
      () => new StoreRefreshWaitingList(new MemoryStore(), new CacheKeyBuilder('m'), 0),
    ).toThrow(/maxEntries/);
  });

  it('ignores a score that is not a finite number', async () => {
    const { list: l } = await list();
    await l.announce('vendor', 'inf', Infinity, 10_000);
    await l.announce('vendor', 'nan', Number.NaN, 10_000);
    expect(await l.top('vendor')).toBeUndefined();
  });

  it('withdraws any number of keys (in batches)', async () => {
    const { list: l } = await list();
    const keys = Array.from({ length: 1201 }, (_, i) => `stock_price:T${i}:latest`);
    for (const [i, k] of keys.entries()) await l.announce('vendor', k, i, 10_000);
    expect((await l.top('vendor'))?.key).toBe(keys[1200]);
    await l.withdraw('vendor', keys.slice(1));
    expect(await l.top('vendor')).toEqual({ key: keys[0], score: 0 });
    await l.withdraw('vendor', []);
    expect(await l.top('vendor')).toEqual({ key: keys[0], score: 0 });
  });

  it('takes maxEntries as a positive integer', () => {
    const keys = new CacheKeyBuilder('m');
    expect(() => new StoreRefreshWaitingList(new MemoryStore(), keys, 1)).not.toThrow();
    for (const bad of [0, -1, 1.5, Number.NaN])
      expect(() => new StoreRefreshWaitingList(new MemoryStore(), keys, bad)).toThrow(/maxEntries/);
  });

  it('answers nothing and throws nothing while Redis cannot answer', async () => {
    const store = new RedisCache({
      url: `redis://127.0.0.1:${await freePort()}`,
      commandTimeoutMs: 200,
      connectTimeoutMs: 200,
    });
    await store.connect();
    try {
      const l = new StoreRefreshWaitingList(store, new CacheKeyBuilder('down'));
      expect(l.shared).toBe(true);
      await expect(l.announce('vendor', 'k', 1, 1000)).resolves.toBeUndefined();
      await expect(l.top('vendor')).resolves.toBeUndefined();
      await expect(l.withdraw('vendor', ['k'])).resolves.toBeUndefined();
    } finally {
      await store.disconnect();
    }
  });

  it('keeps nothing with the memory driver (one instance: its own order is the fleet order)', async () => {
    const l = new StoreRefreshWaitingList(new MemoryStore(), new CacheKeyBuilder('m'));
    expect(l.shared).toBe(false);
    await l.announce('vendor', 'k', 1, 1000);
    expect(await l.top('vendor')).toBeUndefined();
  });
});
