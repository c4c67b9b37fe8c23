import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';

/** The stock-analysis routes and their data source. */
@Module({})
export class MarketModule {
  static forConfig(_config: AppConfig): DynamicModule {
    return { module: MarketModule };
  }
}
