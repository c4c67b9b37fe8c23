import { Module, type DynamicModule } from '@nestjs/common';
import { APP_CONFIG, loadAppConfig, type AppConfig } from '../config/app-config.js';
import { MarketCacheModule } from './cache/index.js';
import { HealthModule } from './health/health.module.js';
import { MarketModule } from './market/market.module.js';
import { EdgeModule } from './edge.module.js';

/** The stock-analysis app: the cache module, the Nest edge, health, and the market routes. */
@Module({})
export class AppModule {
  /** Builds the app from a config (default: the environment). */
  static forConfig(config: AppConfig = loadAppConfig()): DynamicModule {
    return {
      module: AppModule,
      global: true,
      imports: [
        MarketCacheModule.forRoot({ ...config.cache, isGlobal: true }),
        EdgeModule.forConfig(config),
        HealthModule,
        MarketModule.forConfig(config),
      ],
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
