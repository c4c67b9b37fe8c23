import {
  Module,
  RequestMethod,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { APP_CONFIG, loadAppConfig, type AppConfig } from '../config/app-config.js';
import { loadEdgeConfig, type EdgeConfig } from '../config/edge-config.js';
import { MarketCacheModule } from './cache/index.js';
import { HealthModule } from './health/health.module.js';
import { MarketModule } from './market/market.module.js';
import { EdgeModule } from './edge.module.js';
import { AnonymousThrottleMiddleware } from './throttle/anonymous-throttle.middleware.js';
import { ThrottleModule } from './throttle/throttle.module.js';

/**
 * The stock-analysis app: the cache module, the anonymous throttle, the Nest edge, health, and
 * the market routes.
 *
 * The throttle runs as the app's first middleware on every route: this module is global, and Nest
 * mounts the middleware of global modules before that of the others, so it runs before the HTTP
 * cache fast path of `EdgeModule` (which answers cached anonymous GETs before any guard).
 */
@Module({})
export class AppModule implements NestModule {
  /** Builds the app from a config and the edge settings (default: both from the environment). */
  static forConfig(
    config: AppConfig = loadAppConfig(),
    edge: Pick<EdgeConfig, 'throttleLimit' | 'throttleWindowMs'> = loadEdgeConfig(),
  ): DynamicModule {
    return {
      module: AppModule,
      global: true,
      imports: [
        MarketCacheModule.forRoot({ ...config.cache, isGlobal: true }),
        ThrottleModule.forConfig(edge),
        EdgeModule.forConfig(config),
        HealthModule,
        MarketModule.forConfig(config),
      ],
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }

  /** The anonymous throttle in front of every route (a pass-through when it is off). */
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(AnonymousThrottleMiddleware)
      .forRoutes({ path: '{*splat}', method: RequestMethod.ALL });
  }
}
