import type { Provider } from '@nestjs/common';
import { CacheManager } from './cache.manager.js';
import { CacheService } from './cache.service.js';
import { MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE } from './constants.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import { CacheTTLPolicy } from './keys/cache-ttl-policy.js';
import { MODULE_OPTIONS_TOKEN } from './market-cache.module-definition.js';
import {
  resolveOptions,
  type MarketCacheModuleOptions,
  type ResolvedMarketCacheOptions,
} from './market-cache.options.js';
import { QuotaService } from './quota.service.js';
import { SessionService } from './session.service.js';
import type { CacheStore } from './stores/cache-store.js';
import { FileStore } from './stores/file/file-store.js';
import { fileStoreCaps } from './stores/file/file-store.options.js';
import { MemoryStore } from './stores/memory-store.js';
import { RedisCache } from './stores/redis/redis-cache.js';
import { CacheStats } from './tiered/cache-stats.js';
import { InvalidationBus } from './tiered/invalidation-bus.js';
import { TieredCache } from './tiered/tiered-cache.js';

/** Builds and connects the L2 store the options ask for. */
export async function createStore(options: ResolvedMarketCacheOptions): Promise<CacheStore> {
  let store: CacheStore;
  if (options.driver === 'redis') {
    store = new RedisCache({
      client: options.client,
      url: options.redisUrl,
      clusterNodes: options.clusterNodes,
      sentinels: options.sentinels,
      sentinelName: options.sentinelName,
      username: options.username,
      password: options.password,
      tls: options.tls,
      commandTimeoutMs: options.commandTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
    });
  } else if (options.driver === 'file') {
    store = new FileStore({ directory: options.fileDirectory, ...fileStoreCaps(options.fileCaps) });
  } else {
    store = new MemoryStore();
  }
  await store.connect();
  return store;
}

/** Builds the tiered cache over a store, with its invalidation bus when the store has pub/sub. */
export async function createTieredCache(
  store: CacheStore,
  keys: CacheKeyBuilder,
  policy: CacheTTLPolicy,
  options: ResolvedMarketCacheOptions,
): Promise<TieredCache> {
  const tiered = new TieredCache(store, keys, policy, {
    l1: {
      maxEntries: options.l1MaxEntries,
      maxBytes: options.l1MaxBytes,
      maxItemBytes: options.l1MaxItemBytes,
      maxTtlMs: options.l1MaxTtlSeconds === undefined ? undefined : options.l1MaxTtlSeconds * 1000,
    },
    swrPercent: options.swrPercent,
    softTimeoutMs: options.softTimeoutMs,
    hardTimeoutMs: options.hardTimeoutMs,
    failSafeThrottleMs: options.failSafeThrottleMs,
    lockWaitMs: options.lockWaitMs,
    maxValueBytes: options.maxValueBytes,
    instanceId: options.instanceId,
  });
  if (store.pubsub) {
    const bus = new InvalidationBus(store.pubsub, keys.busChannel(), tiered.instanceId, (m) =>
      tiered.onBusMessage(m),
    );
    tiered.attachBus(bus);
    await bus.start();
  }
  return tiered;
}

/**
 * The module's providers: validated options, key builder, TTL policy, the connected store, the
 * tiered cache, its counters (`CacheStats`) and the services on top.
 */
export const MARKET_CACHE_PROVIDERS: Provider[] = [
  {
    provide: MARKET_CACHE_OPTIONS,
    inject: [MODULE_OPTIONS_TOKEN],
    useFactory: (raw: MarketCacheModuleOptions) => resolveOptions(raw),
  },
  {
    provide: CacheKeyBuilder,
    inject: [MARKET_CACHE_OPTIONS],
    useFactory: (o: ResolvedMarketCacheOptions) => new CacheKeyBuilder(o.keyPrefix),
  },
  {
    provide: CacheTTLPolicy,
    inject: [MARKET_CACHE_OPTIONS],
    useFactory: (o: ResolvedMarketCacheOptions) =>
      new CacheTTLPolicy({
        ttlSeconds: o.ttlSeconds,
        maxStalenessSeconds: o.maxStalenessSeconds,
        jitterPercent: o.jitterPercent,
      }),
  },
  { provide: MARKET_CACHE_STORE, inject: [MARKET_CACHE_OPTIONS], useFactory: createStore },
  {
    provide: TieredCache,
    inject: [MARKET_CACHE_STORE, CacheKeyBuilder, CacheTTLPolicy, MARKET_CACHE_OPTIONS],
    useFactory: createTieredCache,
  },
  { provide: CacheStats, inject: [TieredCache], useFactory: (t: TieredCache) => t.stats },
  QuotaService,
  SessionService,
  CacheService,
  CacheManager,
];
