import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';

/** The Nest edge of the app: interceptors, guards, metrics, CACHE_MANAGER, admin routes. */
@Module({})
export class EdgeModule {
  static forConfig(_config: AppConfig): DynamicModule {
    return { module: EdgeModule };
  }
}
