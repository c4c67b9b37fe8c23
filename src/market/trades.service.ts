import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  CacheKeyType,
  CacheService,
  CacheTTLPolicy,
  RangeCache,
  checkDayRange,
  chunkByDay,
  querySignature,
  type RangeCoverageStatus,
  type RangeStream,
} from '../cache/index.js';
import { DataFloor, belowFloorCoverage } from './data-floor.js';
import { DataThrough } from './data-through.js';
import { LineBatcher } from './ndjson-writer.js';
import { MARKET_SETTINGS, type MarketSettings } from './market.options.js';
import {
  MARKET_DATA_PROVIDER,
  type MarketDataProvider,
  type Trade,
  type TradeFilters,
  type TradeSide,
} from './providers/market-data.provider.js';

/** What the range cache of trades is scoped by: the query signature and the filters it stands for. */
export interface TradeScope {
  signature: string;
  filters: TradeFilters;
}

/** First line of the NDJSON answer. */
export interface TradesMetaLine {
  signature: string;
  /** `true`: every day from the cache; `false`: none; `'partial'`: some. */
  cached: boolean | 'partial';
  /** Contiguous `[from, to]` ranges fetched from the source for this answer. */
  fetched: Array<[string, string]>;
  /** When the source produced the oldest day served (ISO). */
  asOf: string;
  /**
   * Set when the range goes past the last day the source holds for the tickers (`DataThrough`):
   * that day. Days after it were neither fetched nor cached: they are not known yet.
   */
  dataThrough?: string;
}

/** A trades answer: its coverage (known before any trade is read) and its NDJSON text in chunks. */
export interface TradesAnswer {
  meta: TradesMetaLine;
  status: RangeCoverageStatus;
  /** The last day the source holds, when the range goes past it (as in `meta`). */
  dataThrough?: string;
  /** The meta line, then about `tradesWriteRows` trade lines per chunk, in order; iterate once. */
  chunks(): AsyncGenerator<string, void, undefined>;
}

/** A trades query as the service takes it (filters as the client gave them). */
export interface TradesQuery {
  filters: {
    tickers: string[];
    side?: TradeSide | null;
    venue?: string | null;
    minQuantity?: number | null;
  };
  from: string;
  to: string;
  includeEvents?: boolean;
}

/** Version of the signature scheme: bump it when filter semantics change, so old entries are never read. */
const SIGNATURE_KIND = 'trades.v1';

/**
 * The canonical filters of a query: tickers trimmed, upper-cased, deduplicated and sorted; venue
 * upper-cased; absent, `null` and no-op values dropped (`minQuantity` ≤ 1: every trade has at
 * least one share). The source is always asked with these, so the signature and the data agree.
 */
export function normalizeTradeFilters(
  filters: TradesQuery['filters'],
): TradeFilters & { tickers: string[] } {
  const out: TradeFilters & { tickers: string[] } = {
    tickers: [...new Set(filters.tickers.map((t) => t.trim().toUpperCase()))].sort(),
  };
  if (filters.side) out.side = filters.side;
  if (filters.venue) out.venue = filters.venue.trim().toUpperCase();
  if (filters.minQuantity !== undefined && filters.minQuantity !== null && filters.minQuantity > 1)
    out.minQuantity = filters.minQuantity;
  return out;
}

/** The query signature of canonical filters: sha256 hex (20 chars) of the filters without the dates. */
export function tradeSignature(filters: TradeFilters): string {
  return querySignature(SIGNATURE_KIND, {
    tickers: filters.tickers,
    side: filters.side,
    venue: filters.venue,
    minQuantity: filters.minQuantity,
  });
}

/**
 * Trades queries delta-fetched per query signature: coverage is kept per (signature, day) as a
 * small index plus parts of at most `tradesPartSize` trades stored as NDJSON text; only missing
 * days are fetched (one `streamTrades` per contiguous gap) and the answer is produced day by day,
 * so memory stays bounded however long the range. Without events the stored text is written as
 * it is (no parse, no re-serialization); events (`includeEvents`) are read fresh per chunk, on
 * trades parsed from the text.
 */
@Injectable()
export class TradesService {
  /** The range cache of trades (scope: signature + filters). */
  readonly range: RangeCache<Trade, TradeScope>;
  /** TTL of the live day's buckets, in seconds (≤ the stock-price and market-data TTLs). */
  readonly liveDayTtlSeconds: number;
  /** Where bars and trades ranges start (the configured earliest date or the source's first day). */
  private readonly floor: DataFloor;
  /** How far the source's trades go. */
  private readonly through: DataThrough;

  constructor(
    @Inject(CacheService) cache: CacheService,
    @Inject(CacheTTLPolicy) policy: CacheTTLPolicy,
    @Inject(MARKET_DATA_PROVIDER) private readonly provider: MarketDataProvider,
    @Inject(MARKET_SETTINGS) private readonly settings: MarketSettings,
    @Optional() @Inject(DataFloor) floor?: DataFloor,
    @Optional() @Inject(DataThrough) through?: DataThrough,
  ) {
    this.floor = floor ?? new DataFloor(provider, settings);
    this.through = through ?? new DataThrough(provider, settings);
    const cap = Math.min(
      policy.ttlFor(CacheKeyType.STOCK_PRICE),
      policy.ttlFor(CacheKeyType.MARKET_DATA),
    );
    this.liveDayTtlSeconds = Math.min(settings.liveDayTtlSeconds ?? cap, cap);
    this.range = new RangeCache<Trade, TradeScope>(cache, {
      keyType: CacheKeyType.MARKET_DATA,
      dayKey: (scope, date) => cache.keys.tradeDay(scope.signature, date),
      partKey: (scope, date, part) => cache.keys.tradeDay(scope.signature, date, part),
      partSize: settings.tradesPartSize,
      encodePart: 'ndjson',
      fetch: (scope, from, to) =>
        chunkByDay(
          provider.streamTrades(scope.filters, from, to),
          (t) => t.tradeDate,
          settings.tradesWriteRows,
        ),
      ttl: {
        closedDaySeconds: settings.closedDayTtlSeconds,
        liveDaySeconds: this.liveDayTtlSeconds,
        today: settings.today,
      },
      maxDays: settings.maxTradesRangeDays,
      writeBatchItems: settings.tradesPartSize,
    });
  }

  /** Checks `from ≤ to` and the range length (`CacheValidationError` naming `from` or `to`: 400). */
  checkRange(from: string, to: string): void {
    checkDayRange(from, to, this.settings.maxTradesRangeDays);
  }

  /**
   * Reads the query's coverage (one batched read of its day indexes) and answers the NDJSON
   * stream. Only the days the source can answer are read: from the floor of its tickers
   * (`DataFloor`) to the last day it holds trades for them (`DataThrough`); days outside are
   * neither fetched nor cached, and a range wholly outside answers the meta line alone. A range
   * going past the last day says so (`dataThrough`).
   */
  async open(query: TradesQuery): Promise<TradesAnswer> {
    const filters = normalizeTradeFilters(query.filters);
    const signature = tradeSignature(filters);
    const [floor, last] = await Promise.all([
      this.floor.floorOf(filters.tickers),
      this.through.tradesThrough(filters.tickers),
    ]);
    const from = query.from < floor ? floor : query.from;
    const beyond = last !== undefined && last < query.to;
    const to = beyond ? last : query.to;
    const stream: RangeStream<Trade> =
      to < from
        ? { ...belowFloorCoverage(), days: async function* () {} }
        : await this.range.open({ signature, filters }, from, to);
    const meta: TradesMetaLine = {
      signature,
      cached: stream.status === 'hit' ? true : stream.status === 'miss' ? false : 'partial',
      fetched: stream.fetched,
      asOf: new Date(stream.asOf).toISOString(),
      ...(beyond ? { dataThrough: last } : {}),
    };
    const rows = this.settings.tradesWriteRows;
    const withEvents = query.includeEvents === true;
    const withEventsOf = (batch: Trade[]) => this.renderWithEvents(batch);
    return {
      meta,
      status: stream.status,
      ...(beyond ? { dataThrough: last } : {}),
      async *chunks() {
        yield JSON.stringify(meta) + '\n';
        if (!withEvents) {
          // The days' NDJSON text as stored (or as encoded once from the source), regrouped
          // into chunks of `rows` lines: nothing parsed, nothing serialized again.
          const lines = new LineBatcher(rows);
          for await (const day of stream.days())
            for (const chunk of lines.push(day.text ?? renderLines(day.items))) yield chunk;
          const rest = lines.flush();
          if (rest !== undefined) yield rest;
          return;
        }
        // With events, one batch is rendered ahead: its events are fetched while the previous
        // chunk is written.
        let ahead: Promise<string> | undefined;
        let batch: Trade[] = [];
        for await (const day of stream.days()) {
          for (const trade of day.items) {
            batch.push(trade);
            if (batch.length < rows) continue;
            const next = withEventsOf(batch);
            batch = [];
            next.catch(() => undefined); // observed below, when its turn comes
            if (ahead) yield await ahead;
            ahead = next;
          }
        }
        if (ahead) yield await ahead;
        if (batch.length) yield await withEventsOf(batch);
      },
    };
  }

  /** NDJSON lines of a batch with each trade's events (one `getTradeEvents` per batch). */
  private async renderWithEvents(batch: Trade[]): Promise<string> {
    const events = await this.provider.getTradeEvents(batch.map((t) => t.tradeId));
    return (
      batch.map((t) => JSON.stringify({ ...t, events: events.get(t.tradeId) ?? [] })).join('\n') +
      '\n'
    );
  }
}

/** NDJSON lines of trades that came without their text (parts of the earlier array encoding). */
function renderLines(trades: readonly Trade[]): string {
  let text = '';
  for (const t of trades) text += JSON.stringify(t) + '\n';
  return text;
}
