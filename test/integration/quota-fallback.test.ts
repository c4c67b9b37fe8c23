/**
 * Issue 12, quota fallback bounded: while the store cannot count, the per-instance counter is an
 * LRU of at most LOCAL_QUOTA_MAX_KEYS keys, continues from the last count the store answered
 * (a key at its limit is admitted 0 more times), and costs O(1) per request.
 *
 * Issue 15, nothing lost from quotas: once the store answers again, the counts each instance took
 * alone are added to the shared counter exactly once (by the key's next request or by a flush),
 * never into a later window's counter; an add the store fails stays owed and is retried; rate
 * counts (`trackRate`) are not added back.
 */
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { CacheValidationError } from '../../src/cache/errors/cache-errors.js';
import { CacheKeyBuilder } from '../../src/cache/keys/cache-key-builder.js';
import { resolveOptions } from '../../src/cache/market-cache.options.js';
import { LOCAL_QUOTA_MAX_KEYS, QuotaService } from '../../src/cache/quota.service.js';
import type { CacheStore, CounterOptions } from '../../src/cache/stores/cache-store.js';
import { MemoryStore } from '../../src/cache/stores/memory-store.js';
import { REAL_EXCEPT_DATE } from '../support/fake-time.js';

const LIMIT = 5;

/** A view of a store that can be made to fail ("Redis down"), as the Redis store answers then. */
interface FlakyStore {
  store: CacheStore;
  /** Every counter call and read fails while on. */
  down(on: boolean): void;
  /** The next `n` counter calls that add back owed counts (with options) fail; the rest answers. */
  failAdds(n: number): void;
  /** Every counter call answers after a macrotask, so that calls started together interleave. */
  slow(on: boolean): void;
}

/** A view of `inner` (a memory store, shared by the views of several "instances") that can fail. */
function flakyStore(inner: CacheStore = new MemoryStore()): FlakyStore {
  let failing = false;
  let addFailures = 0;
  let delayed = false;
  const failed: Partial<Record<keyof CacheStore, () => Promise<unknown>>> = {
    increment: async () => undefined,
    get: async () => undefined,
    ttl: async () => -2,
  };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const broken = failing ? failed[prop as keyof CacheStore] : undefined;
      if (broken) return broken;
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(target);
      if (prop !== 'increment') return bound;
      return async (key: string, ttlMs: number, options?: CounterOptions) => {
        if (delayed) await new Promise((r) => setImmediate(r));
        if (options !== undefined && addFailures > 0) {
          addFailures--;
          return undefined;
        }
        return bound(key, ttlMs, options);
      };
    },
  }) as CacheStore;
  return {
    store,
    down: (on) => (failing = on),
    failAdds: (n) => (addFailures = n),
    slow: (on) => (delayed = on),
  };
}

function quotaService(store: CacheStore): QuotaService {
  return new QuotaService(
    new CacheKeyBuilder('qf'),
    store,
    resolveOptions({ apiDailyQuota: LIMIT }),
  );
}

/** How many of `n` requests of `user` are admitted. */
async function admitted(quotas: QuotaService, user: string, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) if ((await quotas.trackApiQuota(user)).allowed) ok++;
  return ok;
}

describe('QuotaService fail-open fallback', () => {
  afterEach(() => jest.useRealTimers());

  it('admits a key at its limit 0 more times while the store cannot count (it continues from the last count seen)', async () => {
    const { store, down } = flakyStore();
    const quotas = quotaService(store);
    expect(await admitted(quotas, 'at-limit', LIMIT)).toBe(LIMIT);
    down(true);
    const usage = await quotas.trackApiQuota('at-limit');
    expect(usage).toMatchObject({ degraded: true, used: LIMIT + 1, allowed: false, remaining: 0 });
    expect(await admitted(quotas, 'at-limit', 200)).toBe(0);
    expect(await quotas.getApiQuotaUsage('at-limit')).toMatchObject({ used: LIMIT + 201 });
  });

  it('admits a partly used key only up to its limit in total while degraded', async () => {
    const { store, down } = flakyStore();
    const quotas = quotaService(store);
    expect(await admitted(quotas, 'partly', 3)).toBe(3);
    down(true);
    expect(await admitted(quotas, 'partly', 20)).toBe(LIMIT - 3);
    // Back up: the 20 requests counted here are added to the store's count with the next one.
    down(false);
    expect(await quotas.trackApiQuota('partly')).toMatchObject({ used: 24, degraded: false });
    expect(await store.get('qf:api_quota:partly:daily')).toBe('24');
    expect(quotas.pendingAddBacks).toBe(0);
  });

  it('starts a fresh count when the window of the last seen count has ended (fake clock)', async () => {
    jest.useFakeTimers({ now: Date.UTC(2024, 0, 2, 10, 0, 30), doNotFake: ['setImmediate'] });
    const { store, down } = flakyStore();
    const quotas = quotaService(store);
    for (let i = 0; i < LIMIT; i++) await quotas.trackApiQuota('windowed', 'minute');
    down(true);
    expect((await quotas.trackApiQuota('windowed', 'minute')).allowed).toBe(false);
    jest.setSystemTime(Date.UTC(2024, 0, 2, 10, 0, 59, 999));
    expect((await quotas.trackApiQuota('windowed', 'minute')).allowed).toBe(false);
    jest.setSystemTime(Date.UTC(2024, 0, 2, 10, 1, 0));
    const next = await quotas.trackApiQuota('windowed', 'minute');
    expect(next).toMatchObject({ used: 1, allowed: true, degraded: true, resetInSeconds: 60 });
  });

  it('keeps at most LOCAL_QUOTA_MAX_KEYS keys for 60 000 distinct keys during an outage, at a flat cost per request', async () => {
    // Warm up the code paths (JIT) on another instance, so the batches below compare map sizes only.
    const warm = flakyStore();
    warm.down(true);
    const warmQuotas = quotaService(warm.store);
    for (let i = 0; i < 20_000; i++) await warmQuotas.trackApiQuota(`w${i % 50}`);

    const { store, down } = flakyStore();
    const quotas = quotaService(store);
    down(true);
    const batch = 1000;
    const timeBatch = async (from: number): Promise<number> => {
      const t0 = performance.now();
      for (let i = from; i < from + batch; i++) await quotas.trackApiQuota(`k${i}`);
      return performance.now() - t0;
    };
    const early = await timeBatch(0); // the map holds at most 1000 keys
    for (let from = batch; from < 59_000; from += batch) await timeBatch(from);
    const late = await timeBatch(59_000); // 60 000 keys seen
    expect(quotas.localKeyCount).toBeLessThanOrEqual(LOCAL_QUOTA_MAX_KEYS);
    expect(quotas.localKeyCount).toBe(LOCAL_QUOTA_MAX_KEYS);
    // O(1): the last 1000 requests (60 000 keys seen) cost about what the first 1000 did (an
    // almost empty map). A scan of the map per request would make them many times slower.
    expect(late).toBeLessThan(early * 3 + 50);
    // The most recent keys are still counted (LRU): k59999 is at 1, a second request makes 2.
    expect(await quotas.trackApiQuota('k59999')).toMatchObject({ used: 2, degraded: true });
  }, 60_000);
});

describe('QuotaService flushes: batches, back-off after a failed add, later windows', () => {
  afterEach(() => jest.useRealTimers());
  const T0 = Date.UTC(2024, 0, 2, 10, 0, 0);
  /** Lets a flush started in the background (with an in-memory store) run to its end. */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };

  it('adds more than one batch of keys in one flush, with the TTL left in their window', async () => {
    jest.useFakeTimers({ now: T0, doNotFake: [...REAL_EXCEPT_DATE] });
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    const users = Array.from({ length: 70 }, (_, i) => `batch-${i}`);
    s.down(true);
    for (const u of users) await counted(quotas, u, 2);
    s.down(false);
    expect(quotas.pendingAddBacks).toBe(140);
    await quotas.flushOwed();
    expect(quotas.pendingAddBacks).toBe(0);
    expect(quotas.droppedAddBacks).toBe(0);
    expect(await Promise.all(users.map((u) => shared(inner, u)))).toEqual(users.map(() => 2));
    // The counters are new: they live until the end of the UTC day of the counts.
    expect(await inner.ttl('qf:api_quota:batch-69:daily')).toBe(14 * 3_600_000);
    // What the store answered is the count the instance continues from in the next outage.
    s.down(true);
    expect(await quotas.trackApiQuota('batch-3')).toMatchObject({ used: 3, degraded: true });
  });

  it('stops at the first batch the store does not fully take, and starts no flush by itself for the next second (fake clock)', async () => {
    jest.useFakeTimers({ now: T0, doNotFake: [...REAL_EXCEPT_DATE] });
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    const users = Array.from({ length: 70 }, (_, i) => `stop-${i}`);
    s.down(true);
    for (const u of users) await counted(quotas, u, 1);
    s.down(false);
    s.failAdds(1);
    await quotas.flushOwed();
    // One add of the first 64 failed: that key stays owed, the 6 keys after the batch are not tried.
    expect(quotas.pendingAddBacks).toBe(1 + 6);
    // A request the store counts would start a flush, but not within a second of the failure.
    await quotas.trackApiQuota('other');
    await settle();
    jest.setSystemTime(T0 + 999);
    await quotas.trackApiQuota('other');
    await settle();
    expect(quotas.pendingAddBacks).toBe(7);
    jest.setSystemTime(T0 + 1000);
    expect(await quotas.trackApiQuota('other')).toMatchObject({ used: 3, degraded: false });
    await settle();
    expect(quotas.pendingAddBacks).toBe(0);
    expect((await Promise.all(users.map((u) => shared(inner, u)))).every((n) => n === 1)).toBe(
      true,
    );
    // That flush went through: the next owed count is flushed by the next request at once.
    s.down(true);
    await counted(quotas, 'late', 2);
    s.down(false);
    await quotas.trackApiQuota('other');
    await settle();
    expect(await shared(inner, 'late')).toBe(2);
  });

  it("drops owed counts a flush finds a later window's counter for (another instance started it)", async () => {
    jest.useFakeTimers({ now: Date.UTC(2024, 0, 2, 10, 0, 50), doNotFake: [...REAL_EXCEPT_DATE] });
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    s.down(true);
    await counted(quotas, 'skewed', 3, 'minute');
    s.down(false);
    await inner.increment('qf:api_quota:skewed:minute', 60_000, { by: 9 });
    await quotas.flushOwed();
    expect(await shared(inner, 'skewed', 'minute')).toBe(9);
    expect(quotas.droppedAddBacks).toBe(3);
    expect(quotas.pendingAddBacks).toBe(0);
  });
});

describe('QuotaService usage and arguments', () => {
  afterEach(() => jest.useRealTimers());

  it('reports usage with what this instance still owes the store, without counting', async () => {
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    await counted(quotas, 'owing', 2);
    s.down(true);
    await counted(quotas, 'owing', 3);
    s.down(false);
    expect(await quotas.getApiQuotaUsage('owing')).toMatchObject({ used: 5, remaining: 0 });
    expect(await shared(inner, 'owing')).toBe(2);
    expect(quotas.pendingAddBacks).toBe(3);
  });

  it("reports the reset from the counter's TTL, else from the end of the window (fake clock)", async () => {
    jest.useFakeTimers({ now: Date.UTC(2024, 0, 2, 10, 0, 0), doNotFake: [...REAL_EXCEPT_DATE] });
    const inner = new MemoryStore();
    const quotas = quotaService(flakyStore(inner).store);
    expect(await quotas.getApiQuotaUsage('fresh', 'hourly')).toMatchObject({
      used: 0,
      resetInSeconds: 3600,
    });
    await inner.increment('qf:api_quota:short:hourly', 5_000);
    expect(await quotas.getApiQuotaUsage('short', 'hourly')).toMatchObject({
      used: 1,
      resetAt: Date.UTC(2024, 0, 2, 10, 0, 5),
      resetInSeconds: 5,
    });
  });

  it('counts no local count of an ended window while the store cannot answer (fake clock)', async () => {
    jest.useFakeTimers({ now: Date.UTC(2024, 0, 2, 10, 0, 30), doNotFake: [...REAL_EXCEPT_DATE] });
    const s = flakyStore();
    const quotas = quotaService(s.store);
    s.down(true);
    await counted(quotas, 'alone', 2, 'minute');
    expect(await quotas.getApiQuotaUsage('alone', 'minute')).toMatchObject({ used: 2 });
    jest.setSystemTime(Date.UTC(2024, 0, 2, 10, 1, 0));
    expect(await quotas.getApiQuotaUsage('alone', 'minute')).toMatchObject({ used: 0 });
  });

  it('refuses bad arguments naming the field, and counts nothing', async () => {
    const inner = new MemoryStore();
    const quotas = quotaService(flakyStore(inner).store);
    const bad = [
      [
        () => quotas.trackApiQuota('u', 'weekly' as never),
        'window',
        'window must be one of minute, hourly, daily',
      ],
      [
        () => quotas.getApiQuotaUsage('u', 'daily', -1),
        'limit',
        'limit must be a non-negative integer',
      ],
      [
        () => quotas.trackApiQuota('u', 'daily', 1.5),
        'limit',
        'limit must be a non-negative integer',
      ],
      [() => quotas.trackRate('', 'anon', 1000), 'subject', undefined],
      [() => quotas.trackRate('s', '', 1000), 'name', undefined],
      [
        () => quotas.trackRate('s', 'anon', 0),
        'windowMs',
        'windowMs must be a positive integer (ms)',
      ],
      [
        () => quotas.trackRate('s', 'anon', 2.5),
        'windowMs',
        'windowMs must be a positive integer (ms)',
      ],
    ] as const;
    for (const [call, field, message] of bad) {
      const refusal = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refusal).toBeInstanceOf(CacheValidationError);
      expect(refusal).toMatchObject({ field, ...(message ? { message } : {}) });
    }
    expect(await quotas.trackRate('s', 'anon', 1)).toMatchObject({ count: 1, degraded: false });
    expect(await quotas.trackApiQuota('u', 'daily', 0)).toMatchObject({ used: 1, allowed: false });
    expect(await inner.get('qf:api_quota:u:daily')).toBe('1');
  });
});

/** The shared counter of `user` in `window`, as the store holds it (0 when absent). */
async function shared(inner: CacheStore, user: string, window = 'daily'): Promise<number> {
  return Number((await inner.get(`qf:api_quota:${user}:${window}`)) ?? 0);
}

/** `n` requests of `user` counted by `quotas` (one after another). */
async function counted(quotas: QuotaService, user: string, n: number, window?: 'minute') {
  for (let i = 0; i < n; i++) await quotas.trackApiQuota(user, window);
}

describe('QuotaService add-back: the counts taken while the store was down reach the shared counter', () => {
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it("adds two instances' outage counts to the shared counters exactly once (next request, then a flush)", async () => {
    const inner = new MemoryStore();
    const [a, b] = [flakyStore(inner), flakyStore(inner)];
    const [qa, qb] = [quotaService(a.store), quotaService(b.store)];
    await counted(qa, 'u1', 10);
    await counted(qb, 'u1', 7);
    await counted(qb, 'u2', 2);
    a.down(true);
    b.down(true);
    await counted(qa, 'u1', 25);
    await counted(qb, 'u1', 13);
    await counted(qa, 'u2', 4);
    expect(await shared(inner, 'u1')).toBe(17);
    expect([qa.pendingAddBacks, qb.pendingAddBacks]).toEqual([29, 13]);
    a.down(false);
    b.down(false);
    // A's next request of u1 carries its 25 owed counts; its u2 counts go with the flush that
    // request starts. B has no traffic: its counts wait for a flush (here, an explicit one).
    expect(await qa.trackApiQuota('u1')).toMatchObject({ used: 17 + 25 + 1, degraded: false });
    await qa.flushOwed();
    expect(await shared(inner, 'u2')).toBe(2 + 4);
    await qb.flushOwed();
    expect(await shared(inner, 'u1')).toBe(10 + 7 + 25 + 13 + 1);
    expect([qa.pendingAddBacks, qb.pendingAddBacks]).toEqual([0, 0]);
    // Nothing is added twice: more flushes change nothing.
    await Promise.all([qa.flushOwed(), qb.flushOwed(), qa.flushOwed()]);
    expect(await shared(inner, 'u1')).toBe(56);
    expect(await shared(inner, 'u2')).toBe(6);
    expect(await qb.getApiQuotaUsage('u1')).toMatchObject({ used: 56 });
  });

  it('adds each owed count once while requests and flushes of the same keys interleave', async () => {
    // Date frozen: the back-off after a failed flush (1 s) cannot run out during the test.
    jest.useFakeTimers({ now: Date.UTC(2024, 0, 2, 10, 0, 0), doNotFake: [...REAL_EXCEPT_DATE] });
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    const users = Array.from({ length: 150 }, (_, i) => `race-${i}`);
    s.down(true);
    for (const u of users) await counted(quotas, u, 3);
    s.down(false);
    s.slow(true); // every add answers after a macrotask: the calls below are all in flight together
    await Promise.all([
      quotas.flushOwed(),
      ...users.map((u) => quotas.trackApiQuota(u)),
      quotas.flushOwed(),
      ...users.slice(0, 70).map((u) => quotas.trackApiQuota(u)),
    ]);
    await quotas.flushOwed();
    const totals = await Promise.all(users.map((u) => shared(inner, u)));
    expect(totals).toEqual(users.map((_, i) => (i < 70 ? 3 + 2 : 3 + 1)));
    expect(quotas.pendingAddBacks).toBe(0);
    // A key whose counts a request took first is no failure: nothing logged, no back-off, so
    // the next request the store counts flushes a new owed count at once.
    expect(warn).not.toHaveBeenCalled();
    s.slow(false);
    s.down(true);
    await counted(quotas, 'after-race', 1);
    s.down(false);
    await quotas.trackApiQuota('race-0');
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(await shared(inner, 'after-race')).toBe(1);
  });

  it('keeps an add the store fails owed and adds it on a later call', async () => {
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    s.down(true);
    await counted(quotas, 'retry-req', 5);
    for (const u of ['retry-a', 'retry-b', 'retry-c']) await counted(quotas, u, 2);
    s.down(false);
    // The request's add fails: it is counted here (degraded), the 5 stay owed with it.
    s.failAdds(1);
    expect(await quotas.trackApiQuota('retry-req')).toMatchObject({ degraded: true, used: 6 });
    expect(await shared(inner, 'retry-req')).toBe(0);
    // A flush whose first add fails: that key (retry-a) stays owed; the flush stops with its batch.
    s.failAdds(1);
    await quotas.flushOwed();
    expect(quotas.pendingAddBacks).toBe(2);
    expect(await shared(inner, 'retry-a')).toBe(0);
    await quotas.flushOwed();
    expect(quotas.pendingAddBacks).toBe(0);
    const users = ['retry-a', 'retry-b', 'retry-c', 'retry-req'];
    expect(await Promise.all(users.map((u) => shared(inner, u)))).toEqual([2, 2, 2, 6]);
    expect(await quotas.trackApiQuota('retry-req')).toMatchObject({ degraded: false, used: 7 });
    expect(await shared(inner, 'retry-req')).toBe(7);
  });

  it('drops the owed counts of a window that has ended instead of adding them to the next one (fake clock)', async () => {
    jest.useFakeTimers({ now: Date.UTC(2024, 0, 2, 10, 0, 30), doNotFake: [...REAL_EXCEPT_DATE] });
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    await counted(quotas, 'ended', 2, 'minute');
    s.down(true);
    await counted(quotas, 'ended', 3, 'minute');
    jest.setSystemTime(Date.UTC(2024, 0, 2, 10, 1, 5));
    s.down(false);
    await quotas.flushOwed();
    expect(await shared(inner, 'ended', 'minute')).toBe(0);
    expect(await quotas.trackApiQuota('ended', 'minute')).toMatchObject({ used: 1 });
    expect(quotas.droppedAddBacks).toBe(3);
    expect(quotas.pendingAddBacks).toBe(0);
  });

  it("never adds owed counts to a later window's counter (another instance already started it)", async () => {
    jest.useFakeTimers({ now: Date.UTC(2024, 0, 2, 10, 0, 50), doNotFake: [...REAL_EXCEPT_DATE] });
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    await counted(quotas, 'skew', 1, 'minute');
    s.down(true);
    await counted(quotas, 'skew', 3, 'minute'); // owed, window ending at 10:01:00
    // An instance whose clock is ahead started the next minute's counter (it lives ~60 s).
    await inner.delete('qf:api_quota:skew:minute');
    await inner.increment('qf:api_quota:skew:minute', 60_000, { by: 9 });
    s.down(false);
    expect(await quotas.trackApiQuota('skew', 'minute')).toMatchObject({ used: 10 });
    expect(await shared(inner, 'skew', 'minute')).toBe(10);
    expect(quotas.droppedAddBacks).toBe(3);
  });

  it("does not add back rate counts (trackRate): the store's count takes over", async () => {
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    await quotas.trackRate('10.0.0.9', 'anon', 60_000);
    s.down(true);
    for (let i = 0; i < 5; i++) await quotas.trackRate('10.0.0.9', 'anon', 60_000);
    expect(quotas.pendingAddBacks).toBe(0);
    s.down(false);
    expect(await quotas.trackRate('10.0.0.9', 'anon', 60_000)).toMatchObject({
      count: 2,
      degraded: false,
    });
  });

  it('stays bounded: owed counts of keys evicted from the LRU are dropped and counted', async () => {
    const s = flakyStore();
    const quotas = quotaService(s.store);
    s.down(true);
    for (let i = 0; i < LOCAL_QUOTA_MAX_KEYS + 5; i++) await quotas.trackApiQuota(`many-${i}`);
    expect(quotas.localKeyCount).toBe(LOCAL_QUOTA_MAX_KEYS);
    expect(quotas.pendingAddBacks).toBe(LOCAL_QUOTA_MAX_KEYS);
    expect(quotas.droppedAddBacks).toBe(5);
  });

  it('adds what is owed before the application shuts down', async () => {
    const inner = new MemoryStore();
    const s = flakyStore(inner);
    const quotas = quotaService(s.store);
    s.down(true);
    await counted(quotas, 'leaving', 4);
    s.down(false);
    await quotas.beforeApplicationShutdown();
    expect(await shared(inner, 'leaving')).toBe(4);
  });
});
