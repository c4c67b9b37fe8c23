import { Module, type DynamicModule } from '@nestjs/common';
import type { EdgeConfig } from '../../config/edge-config.js';
import { QuotaThrottlerStorage } from './quota-throttler.storage.js';
import {
  ANONYMOUS_THROTTLE_OPTIONS,
  ANONYMOUS_THROTTLE_STORAGE,
  type AnonymousThrottleOptions,
} from './throttle.constants.js';

/**
 * The anonymous throttle's settings and storage for `AnonymousThrottleMiddleware`:
 * `edge.throttleLimit` requests per client address per `edge.throttleWindowMs`, counted by
 * `QuotaThrottlerStorage` (the cache module's `QuotaService`). With `throttleLimit` 0 it provides
 * nothing and the middleware passes every request on. Needs `MarketCacheModule` registered globally.
 */
@Module({})
export class ThrottleModule {
  /** The throttle for the edge settings `edge`. */
  static forConfig(edge: Pick<EdgeConfig, 'throttleLimit' | 'throttleWindowMs'>): DynamicModule {
    if (edge.throttleLimit <= 0) return { module: ThrottleModule };
    const options: AnonymousThrottleOptions = {
      limit: edge.throttleLimit,
      windowMs: edge.throttleWindowMs,
    };
    return {
      module: ThrottleModule,
      providers: [
        QuotaThrottlerStorage,
        { provide: ANONYMOUS_THROTTLE_OPTIONS, useValue: options },
        { provide: ANONYMOUS_THROTTLE_STORAGE, useExisting: QuotaThrottlerStorage },
      ],
      exports: [ANONYMOUS_THROTTLE_OPTIONS, ANONYMOUS_THROTTLE_STORAGE],
    };
  }
}
