import {
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Pool } from 'pg';
import type { AppConfig } from '../../config/app-config.js';
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
import { PostgresMarketDataProvider, toMarketDataError } from './providers/postgres.provider.js';
import { migrate } from './providers/postgres/schema.js';
import { StreamGate } from './ndjson-writer.js';
import { SyntheticMarketDataProvider } from './providers/synthetic.provider.js';
import { StocksController } from './stocks.controller.js';
import { TradesController } from './trades.controller.js';
import { TradesService } from './trades.service.js';

/**
 * The app's market-data source: PostgreSQL when `config.databaseUrl` is set (its schema is
 * migrated first; an unreachable database stops start-up with `SOURCE_UNAVAILABLE`), else the
 * synthetic generator with `config.syntheticLatencyMs` of simulated latency.
 */
export async function createMarketDataProvider(
  config: Pick<AppConfig, 'databaseUrl' | 'syntheticLatencyMs'>,
  options: Pick<MarketModuleOptions, 'today'> = {},
): Promise<MarketDataProvider> {
  if (!config.databaseUrl)
    return new SyntheticMarketDataProvider({
      latencyMs: config.syntheticLatencyMs,
      today: options.today,
    });
  const pool = new Pool({
    connectionString: config.databaseUrl,
    max: 1,
    connectionTimeoutMillis: 5000,
  });
  pool.on('error', () => undefined); // an idle client dropping is reported by the next query
  try {
    await migrate(pool);
  } catch (err) {
    throw toMarketDataError(err);
  } finally {
    await pool.end();
  }
  return new PostgresMarketDataProvider({
    connectionString: config.databaseUrl,
    today: options.today,
  });
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

/** The stock-analysis routes and their data source. Needs the global `MarketCacheModule`. */
@Module({})
export class MarketModule {
  /** The module for a config: the source from `databaseUrl`, range limits from `maxBarsRangeDays`/`maxTradesRangeDays`. */
  static forConfig(config: AppConfig, options: MarketModuleOptions = {}): DynamicModule {
    return {
      module: MarketModule,
      controllers: [StocksController, TradesController],
      providers: [
        { provide: MARKET_SETTINGS, useValue: marketSettings(config, options) },
        {
          provide: MARKET_DATA_PROVIDER,
          useFactory: () => createMarketDataProvider(config, options),
        },
        {
          provide: StreamGate,
          inject: [MARKET_SETTINGS],
          useFactory: (s: MarketSettings) =>
            new StreamGate(s.maxConcurrentStreams, s.streamSliceMs, s.streamRetryAfterSeconds),
        },
        MarketDataLifecycle,
        KnownTickers,
        DataFloor,
        DataThrough,
        BarsService,
        MarketService,
        TradesService,
      ],
      exports: [MARKET_DATA_PROVIDER, MARKET_SETTINGS, BarsService, MarketService, TradesService],
    };
  }
}
