import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Optional,
  Param,
  Post,
  UseGuards,
} from '@nestjs/common';
import {
  ALL_KEY_TYPES,
  AdminKeyGuard,
  CacheManager,
  CacheMetrics,
  CacheService,
  CacheValidationError,
  isCacheKeyType,
  type CacheStatistics,
} from '../cache/index.js';
import {
  FlushCacheDto,
  TICKER_PATTERN,
  TickerParamDto,
  type DeletedCount,
} from './cache-admin.dto.js';

/**
 * Cache operations: `GET /api/cache/stats` (read-only, open: counters and store health, no
 * secrets), and the admin routes `DELETE /api/cache/stocks/:ticker` and `POST /api/cache/flush`,
 * which need the admin key (`X-Admin-Key` or `Authorization: Bearer`) and answer `{ deleted }`.
 */
@Controller('api/cache')
export class CacheAdminController {
  constructor(
    @Inject(CacheService) private readonly cache: CacheService,
    @Inject(CacheManager) private readonly manager: CacheManager,
    @Optional() @Inject(CacheMetrics) private readonly metrics?: CacheMetrics,
  ) {}

  /** Hit / miss / stale / partial counts per tier and key type, store counters and health. */
  @Get('stats')
  stats(): Promise<CacheStatistics> {
    return this.cache.getCacheStatistics();
  }

  /** Removes everything cached for a ticker (every key type, every instance's L1). */
  @Delete('stocks/:ticker')
  @UseGuards(AdminKeyGuard)
  async invalidateTicker(@Param() params: TickerParamDto): Promise<DeletedCount> {
    if (!TICKER_PATTERN.test(params.ticker))
      throw new CacheValidationError(
        'ticker',
        'ticker must be 1-32 letters, digits, ".", "_", "^", "=" or "-"',
      );
    return {
      deleted: await this.timed('invalidate_ticker', () =>
        this.manager.invalidateStockCache(params.ticker),
      ),
    };
  }

  /** Removes the keys of one key type, optionally of one entity. */
  @Post('flush')
  @HttpCode(200)
  @UseGuards(AdminKeyGuard)
  async flush(@Body() body: FlushCacheDto): Promise<DeletedCount> {
    if (!isCacheKeyType(body?.keyType))
      throw new CacheValidationError(
        'keyType',
        `keyType must be one of: ${ALL_KEY_TYPES.join(', ')}`,
      );
    const { keyType, entity } = body;
    return {
      deleted: await this.timed('flush_key_type', () =>
        this.manager.invalidateKeyType(keyType, entity),
      ),
    };
  }

  private timed(operation: string, fn: () => Promise<number>): Promise<number> {
    return this.metrics ? this.metrics.time(operation, 'l2', fn) : fn();
  }
}
