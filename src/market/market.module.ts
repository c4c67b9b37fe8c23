import {
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';
import { SourceHealthMonitor } from '../health/source-health.monitor.js';
import { BarsService } from './bars.service.js';
import { KnownTickers } from './known-tickers.js';
import {
  MARKET_SETTINGS,
  marketSettings,
  type MarketModuleOptions,
  type MarketSettings,
} from './market.options.js';
import { MarketService } from './market.service.js';
import { DataFloor } from './data-floor.js';
import { DataThrough } from './data-through.js';
import { MARKET_DATA_PROVIDER, type MarketDataProvider } from './providers/market-data.provider.js';
import { PostgresMarketDataProvider } from './providers/postgres.provider.js';
import { StreamGate } from './ndjson-writer.js';
import { SyntheticMarketDataProvider } from './providers/synthetic.provider.js';
import { httpVendorProviderFrom } from './providers/http/http-vendor.provider.js';
import type { VendorBudget } from './vendor-budget.js';
import { VENDOR_BUDGET } from './vendor-budget.health.js';
import { VendorBudgetModule } from './vendor-budget.module.js';
import { StocksController } from './stocks.controller.js';
import { TradesController } from './trades.controller.js';
import { TradesService } from './trades.service.js';

/**
 * The app's market-data source: PostgreSQL when `config.databaseUrl` is set, else the synthetic
 * generator with `config.syntheticLatencyMs` of simulated latency. PostgreSQL's schema is migrated
 * first; when the database cannot be reached, start-up goes on (the app starts degraded, its
 * health says `data_source_down`) and the migration is retried in the background with back-off
 * capped at `config.sourceRetryMaxMs` until the database answers — no restart needed.
 */
export async function createMarketDataProvider(
  config: Pick<AppConfig, 'databaseUrl' | 'syntheticLatencyMs'> &
    Partial<Pick<AppConfig, 'sourceRetryMaxMs' | 'vendor'>>,
  options: Pick<MarketModuleOptions, 'today'> = {},
  budget?: VendorBudget,
): Promise<MarketDataProvider> {
  // `DATA_SOURCE` when set (config.vendor), else PostgreSQL when `databaseUrl` is set.
  const source = config.vendor?.dataSource ?? (config.databaseUrl ? 'postgres' : 'synthetic');
  if (source === 'http' && config.vendor)
    return httpVendorProviderFrom(config.vendor, budget && (() => budget.acquire()));
  if (source === 'synthetic' || !config.databaseUrl)
    return new SyntheticMarketDataProvider({
      latencyMs: config.syntheticLatencyMs,
      today: options.today,
    });
  const provider = new PostgresMarketDataProvider({
    connectionString: config.databaseUrl,
    today: options.today,
  });
  await provider.start(config.sourceRetryMaxMs);
  return provider;
}

/** Closes the market-data source on application shutdown. */
@Injectable()
export class MarketDataLifecycle implements OnApplicationShutdown {
  private readonly logger = new Logger('MarketModule');

  constructor(@Inject(MARKET_DATA_PROVIDER) private readonly provider: MarketDataProvider) {}

  async onApplicationShutdown(): Promise<void> {
    await this.provider.close();
    this.logger.log(`market-data source (${this.provider.name}) closed`);
  }
}

/**
 * The stock-analysis routes and their data source. Needs the global `MarketCacheModule`. Global
 * itself, so that the app's health routes see the source's `SourceHealthMonitor`.
 */
@Module({})
export class MarketModule {
  /** The module for a config: the source from `databaseUrl`, range limits from `maxBarsRangeDays`/`maxTradesRangeDays`. */
  static forConfig(config: AppConfig, options: MarketModuleOptions = {}): DynamicModule {
    return {
      module: MarketModule,
      global: true,
      imports: [VendorBudgetModule.forConfig(config)],
      controllers: [StocksController, TradesController],
      providers: [
        { provide: MARKET_SETTINGS, useValue: marketSettings(config, options) },
        {
          provide: MARKET_DATA_PROVIDER,
          inject: [VENDOR_BUDGET],
          useFactory: (budget: VendorBudget) => createMarketDataProvider(config, options, budget),
        },
        {
          provide: StreamGate,
          inject: [MARKET_SETTINGS],
          useFactory: (s: MarketSettings) =>
            new StreamGate(s.maxConcurrentStreams, s.streamSliceMs, s.streamRetryAfterSeconds),
        },
        {
          provide: SourceHealthMonitor,
          inject: [MARKET_DATA_PROVIDER],
          useFactory: (provider: MarketDataProvider) =>
            new SourceHealthMonitor(provider, {
              intervalMs: config.sourceHealthIntervalMs,
              timeoutMs: config.sourceHealthTimeoutMs,
            }),
        },
        MarketDataLifecycle,
        KnownTickers,
        DataFloor,
        DataThrough,
        BarsService,
        MarketService,
        TradesService,
      ],
      exports: [
        MARKET_DATA_PROVIDER,
        MARKET_SETTINGS,
        SourceHealthMonitor,
        BarsService,
        MarketService,
        TradesService,
      ],
    };
  }
}
