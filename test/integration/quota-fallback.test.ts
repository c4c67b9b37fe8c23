/**
 * Issue 12, quota fallback bounded: while the store cannot count, the per-instance counter is an
 * LRU of at most LOCAL_QUOTA_MAX_KEYS keys, continues from the last count the store answered
 * (a key at its limit is admitted 0 more times), and costs O(1) per request.
 */
import { jest } from '@jest/globals';
import { CacheKeyBuilder } from '../../src/cache/keys/cache-key-builder.js';
import { resolveOptions } from '../../src/cache/market-cache.options.js';
import { LOCAL_QUOTA_MAX_KEYS, QuotaService } from '../../src/cache/quota.service.js';
import type { CacheStore } from '../../src/cache/stores/cache-store.js';
import { MemoryStore } from '../../src/cache/stores/memory-store.js';

const LIMIT = 5;

/** A memory store whose counter and reads can be made to fail ("Redis down"), as the Redis store answers then. */
function flakyStore(): { store: CacheStore; down(on: boolean): void } {
  const inner = new MemoryStore();
  let failing = false;
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
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as CacheStore;
  return { store, down: (on) => (failing = on) };
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
    // Back up: the store's own count goes on (the degraded requests were not counted there).
    down(false);
    expect(await quotas.trackApiQuota('partly')).toMatchObject({ used: 4, degraded: false });
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
