import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { CacheManager } from './cache.manager.js';
import { CacheService } from './cache.service.js';
import { MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE } from './constants.js';
import { setDefaultDecoratorCache } from './decorators/cacheable.decorator.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import { CacheTTLPolicy } from './keys/cache-ttl-policy.js';
import { ConfigurableModuleClass } from './market-cache.module-definition.js';
import type { ResolvedMarketCacheOptions } from './market-cache.options.js';
import { MARKET_CACHE_PROVIDERS } from './market-cache.providers.js';
import { QuotaService } from './quota.service.js';
import { SessionService } from './session.service.js';
import type { CacheStore } from './stores/cache-store.js';
import { TieredCache } from './tiered/tiered-cache.js';

/** Closes what the module opened, on application shutdown. */
@Injectable()
export class MarketCacheLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('MarketCacheModule');
  /** True once shutdown began (readiness turns 503). */
  shuttingDown = false;

  constructor(
    @Inject(TieredCache) private readonly tiered: TieredCache,
    @Inject(CacheService) private readonly cache: CacheService,
    @Inject(MARKET_CACHE_STORE) private readonly store: CacheStore,
    @Inject(MARKET_CACHE_OPTIONS) private readonly options: ResolvedMarketCacheOptions,
  ) {}

  /** Makes this module's cache the default of `@Cacheable` / `@CacheEvict`. */
  onModuleInit(): void {
    setDefaultDecoratorCache(this.cache);
  }

  /** Marks the module as shutting down, so readiness fails before connections close. */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  /**
   * Stops the bus, waits for background work (at most `shutdownWaitMs`: a factory stuck on a
   * slow source never holds the process), then closes the store (last).
   */
  async onApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    setDefaultDecoratorCache(undefined, this.cache);
    await this.tiered.detachBus();
    let bound: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      this.tiered.drain().then(() => true),
      new Promise<false>(
        (resolve) => (bound = setTimeout(resolve, this.options.shutdownWaitMs, false)),
      ),
    ]);
    clearTimeout(bound);
    if (!settled)
      this.logger.warn(
        `background cache work still running after ${this.options.shutdownWaitMs} ms: abandoned`,
      );
    await this.store.disconnect();
    this.logger.log('cache connections closed');
  }
}

/**
 * The market-cache module: `MarketCacheModule.forRoot(options)` or `.forRootAsync(...)`.
 * Exports `CacheService`, `QuotaService`, `SessionService`, `CacheManager`, `TieredCache`,
 * `CacheKeyBuilder`, `CacheTTLPolicy` and the store/options tokens (the store itself:
 * `MARKET_CACHE_STORE`, whatever the driver). Providers: `market-cache.providers.ts`.
 */
@Module({
  providers: [...MARKET_CACHE_PROVIDERS, MarketCacheLifecycle],
  exports: [
    MARKET_CACHE_OPTIONS,
    MARKET_CACHE_STORE,
    CacheKeyBuilder,
    CacheTTLPolicy,
    TieredCache,
    QuotaService,
    SessionService,
    CacheService,
    CacheManager,
    MarketCacheLifecycle,
  ],
})
export class MarketCacheModule extends ConfigurableModuleClass {}
