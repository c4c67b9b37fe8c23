import { DEFAULT_MARKET_EARLIEST_DATE, type AppConfig } from '../../config/app-config.js';
import { DEFAULT_CLOSED_DAY_TTL_SECONDS, todayUtcDay } from '../cache/index.js';

/** Options of `MarketModule.forConfig` beyond the environment (`AppConfig`). */
export interface MarketModuleOptions {
  /** TTL of a closed day's bars and trades buckets, in seconds (closed days never change). Default 2 592 000 (30 days). */
  closedDayTtlSeconds?: number;
  /** TTL of the live day's buckets (today, UTC, and later), in seconds; capped at the stock-price TTL. Default: the stock-price TTL (300). */
  liveDayTtlSeconds?: number;
  /** Trades per cached part of one (query signature, day). Default 2000. */
  tradesPartSize?: number;
  /** Trades per NDJSON write (and per `getTradeEvents` batch). Default 1000. */
  tradesWriteRows?: number;
  /** Today's date, `YYYY-MM-DD` (UTC), for the synthetic source and the live-day rule. Default: the system clock. */
  today?: () => string;
  /** `Retry-After` (seconds) of a trades query refused because `maxConcurrentStreams` streams run. Default 1. */
  streamRetryAfterSeconds?: number;
  /** How long a ticker's first available day, asked of the source, is reused, in ms. Default 3 600 000 (1 hour). */
  floorCacheMs?: number;
  /**
   * How long a ticker's last loaded day of bars, asked of the source, is reused, in ms: bars loaded
   * into the source later show up within this bound. Default 60 000 (under the stock-price TTL).
   */
  dataThroughCacheMs?: number;
}

/** Settings the market services read (injection token `MARKET_SETTINGS`). */
export interface MarketSettings {
  /** Longest `/bars` range, in calendar days. */
  maxBarsRangeDays: number;
  /** Longest trades query range, in calendar days. */
  maxTradesRangeDays: number;
  /** Closed-day bucket TTL, in seconds. */
  closedDayTtlSeconds: number;
  /** Requested live-day bucket TTL, in seconds (undefined: the stock-price TTL); never above the stock-price TTL. */
  liveDayTtlSeconds: number | undefined;
  /** Trades per cached part. */
  tradesPartSize: number;
  /** Trades per NDJSON write. */
  tradesWriteRows: number;
  /** Today's date, `YYYY-MM-DD` (UTC). */
  today: () => string;
  /** Most concurrent trades streams per instance (0 = no limit); past it 503 with `Retry-After`. */
  maxConcurrentStreams: number;
  /** Longest synchronous run of the streams per event-loop turn, in ms. */
  streamSliceMs: number;
  /** `Retry-After` of a refused stream, in seconds. */
  streamRetryAfterSeconds: number;
  /** Configured earliest day of bars and trades (`YYYY-MM-DD`); the floor is the later of it and the source's first day. */
  earliestDate: string;
  /** How long a ticker's first available day is reused, in ms. */
  floorCacheMs: number;
  /** How long a ticker's last loaded day of bars is reused, in ms. */
  dataThroughCacheMs: number;
}

/** Default of `maxConcurrentStreams` (env `MAX_CONCURRENT_STREAMS`). */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 8;
/** Default of `streamSliceMs` (env `STREAM_SLICE_MS`). */
export const DEFAULT_STREAM_SLICE_MS = 3;

/** Injection token of the `MarketSettings`. */
export const MARKET_SETTINGS = 'MARKET:SETTINGS';

/** The market settings of a config and module options, with defaults filled in. */
export function marketSettings(
  config: Pick<AppConfig, 'maxBarsRangeDays' | 'maxTradesRangeDays'> &
    Partial<Pick<AppConfig, 'maxConcurrentStreams' | 'streamSliceMs' | 'marketEarliestDate'>>,
  options: MarketModuleOptions = {},
): MarketSettings {
  return {
    maxBarsRangeDays: config.maxBarsRangeDays,
    maxTradesRangeDays: config.maxTradesRangeDays,
    closedDayTtlSeconds: options.closedDayTtlSeconds ?? DEFAULT_CLOSED_DAY_TTL_SECONDS,
    liveDayTtlSeconds: options.liveDayTtlSeconds,
    tradesPartSize: options.tradesPartSize ?? 2000,
    tradesWriteRows: options.tradesWriteRows ?? 1000,
    today: options.today ?? todayUtcDay,
    maxConcurrentStreams: config.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    streamSliceMs: config.streamSliceMs ?? DEFAULT_STREAM_SLICE_MS,
    streamRetryAfterSeconds: options.streamRetryAfterSeconds ?? 1,
    earliestDate: config.marketEarliestDate ?? DEFAULT_MARKET_EARLIEST_DATE,
    floorCacheMs: options.floorCacheMs ?? 3_600_000,
    dataThroughCacheMs: options.dataThroughCacheMs ?? 60_000,
  };
}
