/**
 * The official Keyv store conformance suite (`@keyv/test-suite`) over `TieredKeyvStore`: on a
 * harness Redis and on the memory driver, with Keyv built plainly (`new Keyv({ store })`, Keyv's
 * default serializer, as users and the suite build it) and as `createTieredKeyv` builds it (no
 * Keyv-side serialization, refused writes rejected). Every test of the suite runs: the store suite
 * (api, values, namespaces) and the iterator tests.
 */
import {
  keyvApiTests,
  keyvIteratorTests,
  keyvNamespaceTest,
  keyvValueTests,
} from '@keyv/test-suite';
import { Keyv, type KeyvOptions, type KeyvStoreAdapter } from 'keyv';
import { Buffer } from 'node:buffer';
import { TieredKeyvStore, tieredKeyvOptions } from '../../src/cache/compat/tiered-keyv.store.js';
import type { MarketCacheModuleOptions } from '../../src/cache/market-cache.options.js';
import { testRedis } from '../harness/test-env.js';
import { createCacheContext, uniquePrefix, type CacheContext } from '../support/cache-context.js';
import * as vitestShim from '../support/vitest-shim.js';

/** What the suite's functions take as their `test` argument (typed as vitest's module). */
type SuiteTest = Parameters<typeof keyvApiTests>[0];
/** What they take as their Keyv class. */
type SuiteKeyv = Parameters<typeof keyvApiTests>[1];

/** A Keyv built the way `createTieredKeyv` builds it; options the caller gives (a serializer) win. */
class TieredStyleKeyv extends Keyv {
  constructor(options?: KeyvOptions) {
    const { store, ...rest } = options ?? {};
    super(store ? { ...tieredKeyvOptions(store as KeyvStoreAdapter), ...rest } : rest);
  }
}

const drivers: Array<[string, () => MarketCacheModuleOptions]> = [
  ['redis', () => ({ redisUrl: testRedis().url, keyPrefix: uniquePrefix('kvs') })],
  ['memory', () => ({ driver: 'memory', keyPrefix: uniquePrefix('kvs') })],
];
const builds: Array<[string, SuiteKeyv]> = [
  ['new Keyv({ store }) (default serializer)', Keyv as unknown as SuiteKeyv],
  ['Keyv as createTieredKeyv builds it', TieredStyleKeyv as unknown as SuiteKeyv],
];

describe.each(drivers)('@keyv/test-suite over TieredKeyvStore on the %s driver', (_, options) => {
  let ctx: CacheContext;
  beforeAll(async () => {
    ctx = await createCacheContext(options());
  });
  afterAll(async () => {
    await ctx.close();
  });
  /** A fresh adapter per Keyv, as the suite expects of its store factory. */
  const store = () => new TieredKeyvStore(ctx.cache, { store: ctx.store });
  const test = vitestShim as unknown as SuiteTest;

  describe.each(builds)('%s', (name, KeyvClass) => {
    describe('api', () => keyvApiTests(test, KeyvClass, store));
    describe('values', () => keyvValueTests(test, KeyvClass, store));
    describe('namespaces', () => keyvNamespaceTest(test, KeyvClass, store));
    describe('iterator', () => keyvIteratorTests(test, KeyvClass, store));

    it(`Buffers nested deep in a value come back as Buffers (${name})`, async () => {
      const keyv = new KeyvClass({ store: store(), namespace: 'deep' });
      const value = { a: [{ b: Buffer.from([0, 1, 255]) }], tag: { '!buf': 'not a buffer' } };
      await keyv.set('k', value);
      const back = (await keyv.get('k')) as typeof value;
      expect(Buffer.isBuffer(back.a[0].b)).toBe(true);
      expect(back).toEqual(value);
    });
  });
});
