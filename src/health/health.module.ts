import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { CacheHealthIndicator } from '../cache/health/cache.health.js';
import { RedisHealthIndicator } from '../cache/health/redis.health.js';
import { HealthController } from './health.controller.js';

/** `/health/live`, `/health/ready`, `/health/detailed` (needs `MarketCacheModule` registered globally). */
@Module({
  imports: [TerminusModule.forRoot()],
  controllers: [HealthController],
  providers: [RedisHealthIndicator, CacheHealthIndicator],
  exports: [RedisHealthIndicator, CacheHealthIndicator],
})
export class HealthModule {}
