import { CacheModule } from '@nestjs/cache-manager';
import { Module, type DynamicModule, type ModuleMetadata } from '@nestjs/common';
import { CacheService } from '../cache.service.js';
import { createTieredKeyv, type TieredKeyvOptions } from './tiered-keyv.store.js';

/** Options of `CacheManagerCompatModule.register`. */
export interface CacheManagerCompatOptions extends TieredKeyvOptions {
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
  /** The module; `options.namespace` defaults to `cache_manager`, `options.ttlMs` to the TTL policy's. */
  static register(options: CacheManagerCompatOptions = {}): DynamicModule {
    const { imports, ...keyv } = options;
    return {
      module: CacheManagerCompatModule,
      imports: [
        CacheModule.registerAsync({
          isGlobal: true,
          imports,
          inject: [CacheService],
          useFactory: (cache: CacheService) => ({
            stores: [createTieredKeyv(cache, keyv)],
            ttl: keyv.ttlMs,
          }),
        }),
      ],
      exports: [CacheModule],
    };
  }
}
