import { Inject, Injectable } from '@nestjs/common';
import { CacheHealthReport } from './cache-health.report.js';
import { CacheService } from './cache.service.js';
import { MARKET_CACHE_OPTIONS } from './constants.js';
import { CacheKeyBuilder } from './keys/cache-key-builder.js';
import { CacheKeyType } from './keys/cache-key-type.js';
import type { ResolvedMarketCacheOptions } from './market-cache.options.js';
import type { StoreHealth } from './stores/cache-store.js';
import type { InvalidationResult } from './tiered/invalidation-target.js';
import { assertText } from './util/arguments.js';
import type { BreakerState } from './util/circuit-breaker.js';

/** What `getCacheHealth` reports. */
export interface CacheHealth {
  status: 'healthy' | 'degraded';
  store: StoreHealth;
  l1: { entries: number; bytes: number; utilization: number };
  hitRate: number;
  breaker: BreakerState | undefined;
}

/** Domain helpers over the cache: quotes, statements, analyses, news, and per-ticker invalidation. */
@Injectable()
export class CacheManager {
  private readonly report: CacheHealthReport;

  constructor(
    @Inject(CacheService) private readonly cache: CacheService,
    @Inject(CacheKeyBuilder) private readonly keys: CacheKeyBuilder,
    @Inject(MARKET_CACHE_OPTIONS) options: ResolvedMarketCacheOptions,
  ) {
    this.report = new CacheHealthReport(cache, options);
  }

  /** Caches the latest quote of `ticker` (stock-price TTL, 300 s by default). */
  setStockPrice<T>(ticker: string, quote: T): Promise<boolean> {
    return this.cache.set(this.keys.stockPrice(checkedTicker(ticker)), quote, {
      keyType: CacheKeyType.STOCK_PRICE,
    });
  }
  /** The cached quote of `ticker`, or `null`. */
  getStockPrice<T>(ticker: string): Promise<T | null> {
    return this.read<T>(this.keys.stockPrice(checkedTicker(ticker)), CacheKeyType.STOCK_PRICE);
  }

  /** Caches a financial statement (financial-data TTL, 24 h by default). */
  setFinancialData<T>(ticker: string, period: string, quarter: string, data: T): Promise<boolean> {
    return this.cache.set(this.keys.financialData(checkedTicker(ticker), period, quarter), data, {
      keyType: CacheKeyType.FINANCIAL_DATA,
    });
  }
  /** The cached financial statement, or `null`. */
  getFinancialData<T>(ticker: string, period: string, quarter: string): Promise<T | null> {
    return this.read<T>(
      this.keys.financialData(checkedTicker(ticker), period, quarter),
      CacheKeyType.FINANCIAL_DATA,
    );
  }

  /** Caches a computed analysis (AI-analysis TTL, 6 h by default). */
  setAiAnalysis<T>(ticker: string, analysisType: string, analysis: T): Promise<boolean> {
    return this.cache.set(this.keys.aiAnalysis(checkedTicker(ticker), analysisType), analysis, {
      keyType: CacheKeyType.AI_ANALYSIS,
    });
  }
  /** The cached analysis, or `null`. */
  getAiAnalysis<T>(ticker: string, analysisType: string): Promise<T | null> {
    return this.read<T>(
      this.keys.aiAnalysis(checkedTicker(ticker), analysisType),
      CacheKeyType.AI_ANALYSIS,
    );
  }

  /** Caches news items (news TTL, 1 h by default). */
  setNewsData<T>(ticker: string, category: string, news: T): Promise<boolean> {
    return this.cache.set(this.keys.newsData(checkedTicker(ticker), category), news, {
      keyType: CacheKeyType.NEWS_DATA,
    });
  }
  /** The cached news items, or `null`. */
  getNewsData<T>(ticker: string, category: string): Promise<T | null> {
    return this.read<T>(
      this.keys.newsData(checkedTicker(ticker), category),
      CacheKeyType.NEWS_DATA,
    );
  }

  /**
   * Removes everything cached for `ticker`, of every key type, on every master and from every
   * instance's L1. Keys of other tickers (even `AAPLX` for `AAPL`) are untouched. Answers the count
   * removed from L2; `invalidateStockCacheResult` also says whether Redis and the bus took it.
   */
  async invalidateStockCache(ticker: string): Promise<number> {
    return (await this.invalidateStockCacheResult(ticker)).deleted;
  }

  /**
   * `invalidateStockCache`, answering what was done: this instance's L1 entries of the ticker are
   * evicted at once whatever Redis does; `complete: false` when Redis or the bus did not take it
   * (then it is replayed once they answer). Only the ticker's L1 entries go, on every instance.
   */
  invalidateStockCacheResult(ticker: string): Promise<InvalidationResult> {
    return this.cache.invalidate({ entity: checkedTicker(ticker) });
  }

  /** Removes the keys of one key type, optionally of one entity; answers the count. */
  async invalidateKeyType(type: CacheKeyType, entityId?: string): Promise<number> {
    return (await this.invalidateKeyTypeResult(type, entityId)).deleted;
  }

  /** `invalidateKeyType`, answering what was done (see `invalidateStockCacheResult`). */
  invalidateKeyTypeResult(type: CacheKeyType, entityId?: string): Promise<InvalidationResult> {
    if (entityId !== undefined)
      return this.cache.invalidate({ entity: checkedTicker(entityId, 'entity'), keyType: type });
    const { pattern, matches } = this.keys.entityMatcher(type);
    return this.cache.invalidate({ storagePattern: pattern, filter: matches });
  }

  /** Store health (`healthy` when the store is up) plus L1 figures, the overall hit rate and the breaker, from the `CacheHealthReport` probe. */
  async getCacheHealth(): Promise<CacheHealth> {
    const report = await this.report.probe();
    return {
      status: report.storeHealth.status === 'up' ? 'healthy' : 'degraded',
      store: report.storeHealth,
      l1: report.l1,
      hitRate: report.hitRate.overall,
      breaker: report.store.breaker,
    };
  }

  private async read<T>(key: string, keyType: CacheKeyType): Promise<T | null> {
    const r = await this.cache.get<T>(key, { keyType });
    return r === undefined ? null : r.value;
  }
}

/** The ticker (or entity) argument, checked: a non-empty string of at most 64 characters. */
function checkedTicker(value: string, field = 'ticker'): string {
  assertText(value, field, 64);
  return value;
}
