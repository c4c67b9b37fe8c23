import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { CacheHealthIndicator, RedisHealthIndicator } from '../cache/index.js';
import { HealthController } from './health.controller.js';

/** `/health/live`, `/health/ready`, `/health/detailed` (needs `MarketCacheModule` registered globally). */
@Module({
  imports: [TerminusModule.forRoot()],
  controllers: [HealthController],
  providers: [RedisHealthIndicator, CacheHealthIndicator],
  exports: [RedisHealthIndicator, CacheHealthIndicator],
})
export class HealthModule {}
