import {
  Inject,
  Injectable,
  Module,
  RequestMethod,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';
import {
  CacheKeyBuilder,
  CacheService,
  CacheTTLPolicy,
  MARKET_CACHE_STORE,
  StoreRefreshBudget,
  StoreRefreshWaitingList,
  type CacheStore,
} from '../cache/index.js';
import { VendorBudget, type VendorBudgetSettings } from './vendor-budget.js';
import { VENDOR_BUDGET, VendorBudgetHealth } from './vendor-budget.health.js';
import { VendorBudgetMetrics } from './vendor-budget.metrics.js';
import { VendorDemandMiddleware } from './vendor-demand.middleware.js';
import { VendorRefreshes } from './vendor-refreshes.js';

/** Name of the HTTP vendor's budget (its Redis keys: `{prefix}:api_quota:{vendor}:budget:*`). */
export const VENDOR_BUDGET_NAME = 'vendor';

/** The budget settings of a config (disabled unless `DATA_SOURCE=http`). */
export function vendorBudgetSettings(config: Pick<AppConfig, 'vendor'>): VendorBudgetSettings {
  const v = config.vendor;
  return {
    enabled: v?.dataSource === 'http',
    name: VENDOR_BUDGET_NAME,
    limits: {
      perWindow: v?.callsPerMinute ?? 60,
      perDay: v?.callsPerDay ?? 0,
      windowMs: v?.budgetWindowMs ?? 61_000,
    },
    missReservePercent: v?.missReservePercent ?? 20,
  };
}

/** Stops the deferred refreshes' timer on shutdown and takes them off the fleet's waiting list. */
@Injectable()
export class VendorRefreshesLifecycle implements OnApplicationShutdown {
  constructor(@Inject(VendorRefreshes) private readonly refreshes: VendorRefreshes) {}

  onApplicationShutdown(): Promise<void> {
    return this.refreshes.close();
  }
}

/**
 * The HTTP vendor's shared call budget (`VendorBudget`), the order of its refreshes
 * (`VendorRefreshes`) and their health and metrics. Global, so `/health/detailed` can report it.
 * Needs the global `MarketCacheModule`.
 */
@Module({})
export class VendorBudgetModule implements NestModule {
  /** Counts the requests of each ticker (`VendorDemandMiddleware`) before the HTTP cache answers them. */
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(VendorDemandMiddleware)
      .forRoutes({ path: 'api/stocks/{*splat}', method: RequestMethod.GET });
  }

  /** The module for a config: limits from `config.vendor`; takes shared through the cache's Redis. */
  static forConfig(config: Pick<AppConfig, 'vendor'>): DynamicModule {
    const settings = vendorBudgetSettings(config);
    return {
      module: VendorBudgetModule,
      global: true,
      providers: [
        {
          provide: VENDOR_BUDGET,
          inject: [MARKET_CACHE_STORE, CacheKeyBuilder],
          useFactory: (store: CacheStore, keys: CacheKeyBuilder) =>
            new VendorBudget(
              new StoreRefreshBudget(store, keys, {
                expectedInstances: config.vendor?.expectedInstances ?? 1,
              }),
              settings,
            ),
        },
        {
          provide: VendorRefreshes,
          inject: [
            CacheService,
            CacheTTLPolicy,
            MARKET_CACHE_STORE,
            CacheKeyBuilder,
            VENDOR_BUDGET,
          ],
          useFactory: (
            cache: CacheService,
            policy: CacheTTLPolicy,
            store: CacheStore,
            keys: CacheKeyBuilder,
            budget: VendorBudget,
          ) =>
            new VendorRefreshes(cache, policy, store, keys, budget, {
              waiting: new StoreRefreshWaitingList(store, keys),
            }),
        },
        VendorBudgetHealth,
        VendorBudgetMetrics,
        VendorRefreshesLifecycle,
      ],
      exports: [VENDOR_BUDGET, VendorRefreshes, VendorBudgetHealth],
    };
  }
}
