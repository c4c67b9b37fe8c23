import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common';
import { setDefaultDecoratorCache } from './decorators/cacheable.decorator.js';
import { CacheManager } from './cache.manager.js';
import { CacheService } from './cache.service.js';
import { MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE } from './constants.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import { CacheTTLPolicy } from './keys/cache-ttl-policy.js';
import { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } from './market-cache.module-definition.js';
import {
  resolveOptions,
  type MarketCacheModuleOptions,
  type ResolvedMarketCacheOptions,
} from './market-cache.options.js';
import { RedisCache } from './stores/redis/redis-cache.js';
import type { CacheStore } from './stores/cache-store.js';
import { FileStore } from './stores/file/file-store.js';
import { MemoryStore } from './stores/memory-store.js';
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
    store = new FileStore({ directory: options.fileDirectory });
  } else {
    store = new MemoryStore();
  }
  await store.connect();
  return store;
}

/** Builds the tiered cache (and its invalidation bus on Redis) over a store. */
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
  if (store instanceof RedisCache) {
    const bus = new InvalidationBus(store, keys.busChannel(), tiered.instanceId, (m) =>
      tiered.onBusMessage(m),
    );
    tiered.attachBus(bus);
    await bus.start();
  }
  return tiered;
}

/** Closes what the module opened, on application shutdown. */
@Injectable()
export class MarketCacheLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('MarketCacheModule');
  /** True once shutdown began (readiness turns 503). */
  shuttingDown = false;

  constructor(
    private readonly tiered: TieredCache,
    @Inject(MARKET_CACHE_STORE) private readonly store: CacheStore,
  ) {}

  /** Makes this module's cache the default of `@Cacheable` / `@CacheEvict`. */
  onModuleInit(): void {
    setDefaultDecoratorCache(this.tiered);
  }

  /** Marks the module as shutting down, so readiness fails before connections close. */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  async onApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    setDefaultDecoratorCache(undefined, this.tiered);
    await this.tiered.detachBus();
    await this.tiered.drain();
    await this.store.disconnect();
    this.logger.log('cache connections closed');
  }
}

const providers: Provider[] = [
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
    provide: RedisCache,
    inject: [MARKET_CACHE_STORE],
    useFactory: (store: CacheStore) => (store instanceof RedisCache ? store : null),
  },
  {
    provide: TieredCache,
    inject: [MARKET_CACHE_STORE, CacheKeyBuilder, CacheTTLPolicy, MARKET_CACHE_OPTIONS],
    useFactory: createTieredCache,
  },
  CacheService,
  CacheManager,
  MarketCacheLifecycle,
];

/**
 * The market-cache module: `MarketCacheModule.forRoot(options)` or `.forRootAsync(...)`.
 * Exports `CacheService`, `CacheManager`, `TieredCache`, `RedisCache` (null unless the driver is
 * redis), `CacheKeyBuilder`, `CacheTTLPolicy` and the store/options tokens.
 */
@Module({
  providers,
  exports: [
    MARKET_CACHE_OPTIONS,
    MARKET_CACHE_STORE,
    CacheKeyBuilder,
    CacheTTLPolicy,
    RedisCache,
    TieredCache,
    CacheService,
    CacheManager,
    MarketCacheLifecycle,
  ],
})
export class MarketCacheModule extends ConfigurableModuleClass {}
