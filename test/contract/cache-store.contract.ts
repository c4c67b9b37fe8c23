import { randomBytes } from 'node:crypto';
import { CacheValidationError } from '../../src/cache/errors/cache-errors.js';
import type { CacheStore } from '../../src/cache/stores/cache-store.js';
import { encodeEntry } from '../../src/cache/tiered/cache-entry.js';

/** Stored text of a tiered entry of `value` produced at `asOf` (its timeline after it). */
function entryText(value: unknown, asOf: number): string {
  return encodeEntry(value, asOf, asOf + 1_000, asOf + 2_000, asOf + 3_000);
}

/**
 * The one behaviour contract every `CacheStore` driver must meet. Each test works under its own
 * random key prefix, so drivers may share a backend with other suites.
 */
export function describeCacheStoreContract(
  name: string,
  makeStore: () => Promise<CacheStore>,
  cleanup?: (store: CacheStore) => Promise<void>,
): void {
  describe(`CacheStore contract: ${name}`, () => {
    let store: CacheStore;
    let ns: string;
    const k = (s: string) => `${ns}:${s}`;

    beforeAll(async () => {
      store = await makeStore();
    });
    afterAll(async () => {
      if (cleanup) await cleanup(store);
      else await store.disconnect();
    });
    beforeEach(() => {
      ns = `ct${randomBytes(4).toString('hex')}`;
    });

    it('stores and reads back a string, and misses an absent key', async () => {
      expect(await store.set(k('a'), 'value-a', 10_000)).toBe(true);
      expect(await store.get(k('a'))).toBe('value-a');
      expect(await store.get(k('absent'))).toBeUndefined();
    });

    it('keeps unicode and large values intact', async () => {
      const big = 'ü€𝄞'.repeat(10_000) + JSON.stringify({ a: [1, 2, 3] });
      expect(await store.set(k('big'), big, 10_000)).toBe(true);
      expect(await store.get(k('big'))).toBe(big);
      // Batch reads too (on Redis: MGET, answered as bytes and decoded by the store), the
      // 90 KB value spanning several socket reads with its multi-byte characters cut anywhere.
      const small = 'Zürich €5 𝄞';
      await store.set(k('small'), small, 10_000);
      expect(await store.pipelineGet([k('big'), k('absent'), k('small')])).toEqual([
        big,
        undefined,
        small,
      ]);
      // Reads that overlap are sent together (one MGET on Redis): each gets its own value.
      expect(
        await Promise.all(
          [k('small'), k('big'), k('absent'), k('small')].map((key) => store.get(key)),
        ),
      ).toEqual([small, big, undefined, small]);
    });

    it('overwrites and deletes', async () => {
      await store.set(k('o'), '1', 10_000);
      await store.set(k('o'), '2', 10_000);
      expect(await store.get(k('o'))).toBe('2');
      expect(await store.delete(k('o'))).toBe(true);
      expect(await store.delete(k('o'))).toBe(false);
      expect(await store.exists(k('o'))).toBe(false);
    });

    it('expires keys after their TTL and reports the remaining TTL in ms', async () => {
      await store.set(k('t'), 'x', 5_000);
      const ttl = await store.ttl(k('t'));
      expect(ttl).toBeGreaterThan(3_000);
      expect(ttl).toBeLessThanOrEqual(5_000);
      expect(await store.ttl(k('missing'))).toBe(-2);
      await store.set(k('short'), 'x', 60);
      await new Promise((r) => setTimeout(r, 200));
      expect(await store.get(k('short'))).toBeUndefined();
      expect(await store.exists(k('short'))).toBe(false);
    });

    it('renews a TTL with expire, and only for existing keys', async () => {
      await store.set(k('e'), 'x', 1_000);
      expect(await store.expire(k('e'), 60_000)).toBe(true);
      expect(await store.ttl(k('e'))).toBeGreaterThan(30_000);
      expect(await store.expire(k('none'), 60_000)).toBe(false);
    });

    it('refuses a non-positive or non-finite TTL with a validation error naming it', async () => {
      await expect(store.set(k('bad'), 'x', 0)).rejects.toBeInstanceOf(CacheValidationError);
      await expect(store.set(k('bad'), 'x', -5)).rejects.toThrow(/ttlMs/);
      await expect(store.set(k('bad'), 'x', Number.NaN)).rejects.toThrow(/ttlMs/);
      expect(await store.exists(k('bad'))).toBe(false);
    });

    it('batches reads and writes in order, with misses as undefined', async () => {
      const entries = Array.from({ length: 50 }, (_, i) => ({
        key: k(`p${i}`),
        value: `v${i}`,
        ttlMs: 10_000,
      }));
      expect(await store.pipelineSet(entries)).toBe(true);
      const keys = [k('p3'), k('nope'), ...entries.map((e) => e.key), k('p3')];
      const values = await store.pipelineGet(keys);
      expect(values[0]).toBe('v3');
      expect(values[1]).toBeUndefined();
      expect(values.slice(2, 52)).toEqual(entries.map((e) => e.value));
      expect(values[52]).toBe('v3');
      expect(await store.pipelineGet([])).toEqual([]);
      expect(await store.ttl(k('p7'))).toBeGreaterThan(0);
    });

    it('lists keys by glob and flushes only the matching ones (with a filter)', async () => {
      await store.pipelineSet(
        ['a:1', 'a:2', 'a:3', 'b:1'].map((s) => ({ key: k(s), value: s, ttlMs: 10_000 })),
      );
      expect((await store.keys(k('a:*'))).sort()).toEqual([k('a:1'), k('a:2'), k('a:3')]);
      expect(await store.keys(k('a:?'))).toHaveLength(3);
      expect(await store.keys(k('a:[12]'))).toHaveLength(2);
      expect(await store.flushPattern(k('a:*'), (key) => !key.endsWith(':3'))).toBe(2);
      expect(await store.get(k('a:3'))).toBe('a:3');
      expect(await store.flushPattern(k('*'))).toBe(2);
      expect(await store.get(k('b:1'))).toBeUndefined();
    });

    it('treats escaped glob characters in patterns literally', async () => {
      await store.set(k('lit*x'), '1', 10_000);
      await store.set(k('litAx'), '2', 10_000);
      expect(await store.keys(k('lit\\*x'))).toEqual([k('lit*x')]);
    });

    it('increments atomically under concurrency and gives the counter a TTL', async () => {
      const results = await Promise.all(
        Array.from({ length: 200 }, () => store.increment(k('n'), 60_000)),
      );
      const values = results.map((r) => r?.value).sort((a, b) => (a ?? 0) - (b ?? 0));
      expect(values).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(await store.get(k('n'))).toBe('200');
      const ttl = await store.ttl(k('n'));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    });

    it('adds amounts to a counter atomically (increment by): a missing one gets the TTL given, an existing one keeps its own', async () => {
      const created = await store.increment(k('add'), 60_000, { by: 5 });
      expect(created).toEqual({ value: 5, ttlMs: expect.any(Number) });
      expect(created!.ttlMs).toBeGreaterThan(30_000);
      expect(created!.ttlMs).toBeLessThanOrEqual(60_000);
      await store.increment(k('add'), 60_000);
      const adds = await Promise.all(
        Array.from({ length: 50 }, () => store.increment(k('add'), 1_000, { by: 3 })),
      );
      expect(adds.every((a) => a !== undefined && a.laterWindow === undefined)).toBe(true);
      expect(Math.max(...adds.map((a) => a?.value ?? 0))).toBe(5 + 1 + 150);
      expect(await store.get(k('add'))).toBe(String(5 + 1 + 150));
      // The counter's own TTL is kept: not shortened to the 1 000 ms given with the adds.
      expect(await store.ttl(k('add'))).toBeGreaterThan(30_000);
    });

    it('adds nothing to a counter living longer than maxTtlMs (a later window), and checks its options', async () => {
      await store.increment(k('later'), 60_000, { by: 7 });
      expect(await store.increment(k('later'), 1_000, { by: 4, maxTtlMs: 10_000 })).toMatchObject({
        value: 7,
        laterWindow: true,
      });
      expect(await store.get(k('later'))).toBe('7');
      const added = await store.increment(k('later'), 1_000, { by: 4, maxTtlMs: 120_000 });
      expect(added).toMatchObject({ value: 11 });
      expect(added).not.toHaveProperty('laterWindow');
      // maxTtlMs applies to existing counters only: a missing one is created with ttlMs.
      expect(await store.increment(k('fresh'), 5_000, { by: 2, maxTtlMs: 1_000 })).toEqual({
        value: 2,
        ttlMs: expect.any(Number),
      });
      await expect(store.increment(k('bad'), 1_000, { by: 0 })).rejects.toThrow(/by/);
      await expect(store.increment(k('bad'), 1_000, { by: 1.5 })).rejects.toBeInstanceOf(
        CacheValidationError,
      );
      await expect(store.increment(k('bad'), 0, { by: 2 })).rejects.toThrow(/ttlMs/);
      await expect(store.increment(k('bad'), 1_000, { maxTtlMs: -1 })).rejects.toThrow(/maxTtlMs/);
      expect(await store.exists(k('bad'))).toBe(false);
    });

    it('locks with a token: one holder, release only by the holder', async () => {
      const attempts = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.acquireLock(k('lock'), `t${i}`, 10_000)),
      );
      expect(attempts.filter((a) => a === 'acquired')).toHaveLength(1);
      const holder = `t${attempts.indexOf('acquired')}`;
      expect(await store.releaseLock(k('lock'), 'not-the-holder')).toBe(false);
      expect(await store.releaseLock(k('lock'), holder)).toBe(true);
      expect(await store.acquireLock(k('lock'), 'next', 10_000)).toBe('acquired');
    });

    it('lets a lock expire after its TTL', async () => {
      expect(await store.acquireLock(k('l2'), 'a', 60)).toBe('acquired');
      await new Promise((r) => setTimeout(r, 200));
      expect(await store.acquireLock(k('l2'), 'b', 10_000)).toBe('acquired');
    });

    describe('monotonic writes (an `asOf` given)', () => {
      const T = 1_764_633_600_000; // an instant in epoch ms

      it('refuses an older write, keeping the stored entry and its TTL', async () => {
        expect(await store.set(k('m'), entryText('new', T), 10_000, { asOf: T })).toBe('written');
        expect(await store.set(k('m'), entryText('old', T - 1), 10_000, { asOf: T - 1 })).toBe(
          'kept-newer',
        );
        expect(await store.get(k('m'))).toBe(entryText('new', T));
        expect(await store.ttl(k('m'))).toBeGreaterThan(0);
      });

      it('accepts a newer write and an equal one (idempotent), and writes a missing key', async () => {
        expect(await store.set(k('n'), entryText('first', T), 10_000, { asOf: T })).toBe('written');
        expect(await store.set(k('n'), entryText('newer', T + 5), 10_000, { asOf: T + 5 })).toBe(
          'written',
        );
        expect(await store.get(k('n'))).toBe(entryText('newer', T + 5));
        expect(await store.set(k('n'), entryText('same', T + 5), 10_000, { asOf: T + 5 })).toBe(
          'written',
        );
        expect(await store.get(k('n'))).toBe(entryText('same', T + 5));
        expect(await store.set(k('absent'), entryText(1, 0), 10_000, { asOf: 0 })).toBe('written');
        expect(await store.ttl(k('absent'))).toBeGreaterThan(0);
      });

      it('overwrites stored text that is not an entry (corrupt) or whose value only looks like a tail', async () => {
        await store.set(k('c'), '{"v":1,"a":99999999999999', 10_000);
        expect(await store.set(k('c'), entryText('ok', T), 10_000, { asOf: T })).toBe('written');
        expect(await store.get(k('c'))).toBe(entryText('ok', T));
        // A string value cannot fake the tail: its quotes are escaped, and the real tail follows it.
        const fake = ',"a":8000000000000000,"s":1,"e":2,"k":3}';
        await store.set(k('f'), entryText(fake, T - 10), 10_000, { asOf: T - 10 });
        expect(await store.set(k('f'), entryText('real', T), 10_000, { asOf: T })).toBe('written');
        expect(await store.get(k('f'))).toBe(entryText('real', T));
      });

      it('reads the timeline of an entry whose long text is stored raw, and a raw text cannot fake it', async () => {
        // A long string is stored unescaped before the JSON (`~<length>:<text>{…}`): a tail inside
        // the text is followed by the real one, which ends the stored text.
        const text = ',"a":8000000000000000,"s":1,"e":2,"k":3}'.repeat(40);
        const newer = entryText({ body: text }, T);
        expect(newer.startsWith('~')).toBe(true);
        expect(await store.set(k('r'), newer, 10_000, { asOf: T })).toBe('written');
        expect(
          await store.set(k('r'), entryText({ body: text.slice(1) }, T - 1), 10_000, {
            asOf: T - 1,
          }),
        ).toBe('kept-newer');
        expect(await store.get(k('r'))).toBe(newer);
        await store.set(k('rf'), entryText(text, T - 10), 10_000, { asOf: T - 10 });
        expect(await store.set(k('rf'), entryText('real', T), 10_000, { asOf: T })).toBe('written');
        expect(await store.get(k('rf'))).toBe(entryText('real', T));
      });

      it('keeps plain writes plain: without `asOf` a write replaces even a newer entry', async () => {
        await store.set(k('p'), entryText('entry', T), 10_000, { asOf: T });
        expect(await store.set(k('p'), 'raw', 10_000)).toBe(true);
        expect(await store.get(k('p'))).toBe('raw');
      });

      it('compares each entry of a batch, answering each outcome in order', async () => {
        await store.set(k('b1'), entryText('b1 newer', T), 10_000, { asOf: T });
        await store.set(k('b2'), entryText('b2 older', T - 100), 10_000, { asOf: T - 100 });
        const batch = [
          { key: k('b1'), value: entryText('b1 late', T - 50), ttlMs: 10_000, asOf: T - 50 },
          { key: k('b2'), value: entryText('b2 fresh', T), ttlMs: 10_000, asOf: T },
          { key: k('b3'), value: entryText('b3', T), ttlMs: 10_000, asOf: T },
          { key: k('b4'), value: 'plain', ttlMs: 10_000 },
        ];
        expect(await store.pipelineSet(batch, { outcomes: true })).toEqual([
          'kept-newer',
          'written',
          'written',
          'written',
        ]);
        expect(await store.pipelineGet(batch.map((e) => e.key))).toEqual([
          entryText('b1 newer', T),
          entryText('b2 fresh', T),
          entryText('b3', T),
          'plain',
        ]);
        // The boolean form: an entry kept newer is not a failure.
        expect(await store.pipelineSet([batch[0]])).toBe(true);
        expect(await store.get(k('b1'))).toBe(entryText('b1 newer', T));
      });

      it('refuses a bad `asOf` naming the field', async () => {
        await expect(
          store.set(k('bad'), entryText(1, T), 10_000, { asOf: Number.NaN }),
        ).rejects.toMatchObject({ field: 'asOf' });
        await expect(
          store.pipelineSet([{ key: k('bad'), value: 'x', ttlMs: 10_000, asOf: -1 }]),
        ).rejects.toBeInstanceOf(CacheValidationError);
      });
    });

    it('reports health and counters without throwing', async () => {
      const health = await store.getHealth();
      expect(health.status).toBe('up');
      expect(health.kind).toBe(store.kind);
      await store.set(k('present'), 'v', 10_000);
      const before = store.getStats();
      await store.get(k('miss'));
      await store.get(k('present'));
      const stats = store.getStats();
      // One miss and one hit, counted as such; neither is an error on a healthy store.
      expect(stats.misses).toBe(before.misses + 1);
      expect(stats.hits).toBe(before.hits + 1);
      expect(stats.errors).toBe(before.errors);
    });
  });
}
