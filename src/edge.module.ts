import {
  Module,
  RequestMethod,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import type { AppConfig } from '../config/app-config.js';
import { CacheAdminController } from './admin/cache-admin.controller.js';
import {
  AdminKeyGuard,
  CacheManagerCompatModule,
  CacheMetrics,
  HttpCacheFastPath,
  HttpCacheFastPathIndex,
  HttpCacheInterceptor,
  MARKET_CACHE_ADMIN_KEY,
  MARKET_CACHE_QUOTA_OPTIONS,
  MetricsController,
  QuotaGuard,
  type QuotaGuardOptions,
} from './cache/index.js';

/**
 * The Nest edge of the app: the HTTP cache interceptor (global; acts on `@CacheResponse` routes),
 * the API quota guard (global; `/api/**` with `X-API-Key`), `/metrics`, `CACHE_MANAGER` over the
 * market cache, and the cache admin routes (admin key from `AppConfig.adminApiKey`).
 * Needs `MarketCacheModule` registered globally.
 *
 * The HTTP cache fast path is on: the app's only global guard (the quota guard) lets anonymous
 * requests through unchanged, which is what `HttpCacheFastPath` requires.
 */
@Module({})
export class EdgeModule implements NestModule {
  /** Anonymous GET/HEADs of URLs already answered from the cache skip Nest's pipeline. */
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpCacheFastPath).forRoutes({ path: '{*splat}', method: RequestMethod.ALL });
  }

  /** The edge for a config: quota limit `apiDailyQuota` per key per day, admin key `adminApiKey`. */
  static forConfig(config: AppConfig): DynamicModule {
    const quota: QuotaGuardOptions = {
      limit: config.apiDailyQuota,
      window: 'daily',
      pathPrefixes: ['/api/'],
    };
    return {
      module: EdgeModule,
      imports: [CacheManagerCompatModule.register()],
      controllers: [MetricsController, CacheAdminController],
      providers: [
        CacheMetrics,
        HttpCacheFastPathIndex,
        HttpCacheInterceptor,
        QuotaGuard,
        AdminKeyGuard,
        { provide: MARKET_CACHE_ADMIN_KEY, useValue: config.adminApiKey },
        { provide: MARKET_CACHE_QUOTA_OPTIONS, useValue: quota },
        { provide: APP_INTERCEPTOR, useExisting: HttpCacheInterceptor },
        { provide: APP_GUARD, useExisting: QuotaGuard },
      ],
      exports: [
        CacheMetrics,
        HttpCacheFastPathIndex,
        HttpCacheInterceptor,
        MARKET_CACHE_ADMIN_KEY,
        CacheManagerCompatModule,
      ],
    };
  }
}
