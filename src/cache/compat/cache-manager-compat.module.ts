import { CacheModule } from '@nestjs/cache-manager';
import { Module, type DynamicModule, type ModuleMetadata } from '@nestjs/common';
import { CacheService } from '../cache.service.js';
import { MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE } from '../constants.js';
import type { ResolvedMarketCacheOptions } from '../market-cache.options.js';
import type { CacheStore } from '../stores/cache-store.js';
import { createTieredKeyv } from './tiered-keyv.store.js';

/** Options of `CacheManagerCompatModule.register`. */
export interface CacheManagerCompatOptions {
  /**
   * Keyv namespace: keys live under `{keyPrefix}:{namespace}:{key}`. Default `cache_manager`; an
   * empty string puts them straight under the module prefix.
   */
  namespace?: string;
  /**
   * TTL of a `set` / `wrap` without one, in milliseconds. Default: the module's `maxTtlSeconds`
   * (30 days), which a TTL of 0 also means.
   */
  ttlMs?: number;
  /**
   * `true`: `get` answers the cache's shared, deep-frozen values (no copy per read; mutating one
   * throws). Default `false`: fresh, mutable copies, as stock cache-manager stores answer.
   */
  frozenValues?: boolean;
  /** Modules providing `CacheService`; not needed when `MarketCacheModule` is registered with `isGlobal: true`. */
  imports?: ModuleMetadata['imports'];
}

/**
 * Registers `@nestjs/cache-manager`'s `CacheModule` (global) over the market cache, so code that
 * injects `CACHE_MANAGER` or uses Nest's stock `CacheInterceptor` shares the one Redis connection,
 * the L1 tier and the invalidation bus: one Keyv (`createTieredKeyv`) whose store is a
 * `TieredKeyvStore`. `clear()` removes only the keys written through it (its namespace); its
 * `disconnect()` leaves the connection to `MarketCacheModule`.
 */
@Module({})
export class CacheManagerCompatModule {
  /** The module; see `CacheManagerCompatOptions` for the defaults. */
  static register(options: CacheManagerCompatOptions = {}): DynamicModule {
    const { imports, ...keyv } = options;
    return {
      module: CacheManagerCompatModule,
      imports: [
        CacheModule.registerAsync({
          isGlobal: true,
          imports,
          inject: [CacheService, MARKET_CACHE_OPTIONS, MARKET_CACHE_STORE],
          useFactory: (
            cache: CacheService,
            module: ResolvedMarketCacheOptions,
            store: CacheStore,
          ) => ({
            stores: [
              createTieredKeyv(cache, {
                ...keyv,
                maxTtlMs: module.maxTtlSeconds * 1000,
                store,
              }),
            ],
            ttl: keyv.ttlMs,
          }),
        }),
      ],
      exports: [CacheModule],
    };
  }
}
