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
  Res,
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
  type InvalidationResult,
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
 * When Redis or the bus did not take the invalidation they answer 503 with what was done:
 * `{ deleted, complete: false, l1Evicted, l2, bus, queued }` (this instance's L1 was evicted; the
 * rest is replayed once Redis answers).
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
  async invalidateTicker(
    @Param() params: TickerParamDto,
    @Res({ passthrough: true }) res: StatusSetter,
  ): Promise<DeletedCount> {
    if (!TICKER_PATTERN.test(params.ticker))
      throw new CacheValidationError(
        'ticker',
        'ticker must be 1-32 letters, digits, ".", "_", "^", "=" or "-"',
      );
    return answer(
      res,
      await this.timed('invalidate_ticker', () =>
        this.manager.invalidateStockCacheResult(params.ticker),
      ),
    );
  }

  /** Removes the keys of one key type, optionally of one entity. */
  @Post('flush')
  @HttpCode(200)
  @UseGuards(AdminKeyGuard)
  async flush(
    @Body() body: FlushCacheDto,
    @Res({ passthrough: true }) res: StatusSetter,
  ): Promise<DeletedCount> {
    if (!isCacheKeyType(body?.keyType))
      throw new CacheValidationError(
        'keyType',
        `keyType must be one of: ${ALL_KEY_TYPES.join(', ')}`,
      );
    const { keyType, entity } = body;
    return answer(
      res,
      await this.timed('flush_key_type', () =>
        this.manager.invalidateKeyTypeResult(keyType, entity),
      ),
    );
  }

  private timed(
    operation: string,
    fn: () => Promise<InvalidationResult>,
  ): Promise<InvalidationResult> {
    return this.metrics ? this.metrics.time(operation, 'l2', fn) : fn();
  }
}

/** The part of the platform's response these routes use (Express: `res.status`). */
interface StatusSetter {
  status(code: number): unknown;
}

/** The body of an invalidation route: `{ deleted }`, or 503 with what was done when Redis or the bus did not take it. */
function answer(res: StatusSetter, result: InvalidationResult): DeletedCount {
  if (result.complete) return { deleted: result.deleted };
  res.status(503);
  const { deleted, complete, l1Evicted, l2, bus, queued } = result;
  return { deleted, complete, l1Evicted, l2, bus, queued };
}
