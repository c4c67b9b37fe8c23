/**
 * Shape checks of the values the market routes read back from the cache. A cached value that
 * fails its check is corrupt: the caller counts it, deletes it and serves the source's answer.
 */
import type {
  DailyBar,
  FinancialStatement,
  NewsItem,
  Quote,
} from './providers/market-data.provider.js';

type Fields = Record<string, unknown>;

function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function finite(o: Fields, ...names: string[]): boolean {
  return names.every((n) => typeof o[n] === 'number' && Number.isFinite(o[n]));
}

function strings(o: Fields, ...names: string[]): boolean {
  return names.every((n) => typeof o[n] === 'string');
}

/** A daily bar: `date` a string, OHLC and volume finite numbers. */
export function isDailyBar(value: unknown): value is DailyBar {
  return (
    isRecord(value) &&
    strings(value, 'date') &&
    finite(value, 'open', 'high', 'low', 'close', 'volume')
  );
}

/** A quote: ticker, currency and asOf strings; prices, change and volume finite numbers. */
export function isQuote(value: unknown): value is Quote {
  return (
    isRecord(value) &&
    strings(value, 'ticker', 'currency', 'asOf') &&
    finite(value, 'price', 'open', 'high', 'low', 'previousClose', 'change', 'changePercent') &&
    finite(value, 'volume')
  );
}

/** A financial statement: its strings and finite figures. */
export function isFinancialStatement(value: unknown): value is FinancialStatement {
  return (
    isRecord(value) &&
    strings(value, 'ticker', 'period', 'quarter', 'currency', 'asOf') &&
    finite(value, 'fiscalYear', 'revenue', 'operatingIncome', 'netIncome', 'eps') &&
    finite(value, 'totalAssets', 'totalLiabilities', 'operatingCashFlow')
  );
}

/** A list of news items, each with its string fields. */
export function isNewsItems(value: unknown): value is NewsItem[] {
  return (
    Array.isArray(value) &&
    value.every(
      (item) =>
        isRecord(item) &&
        strings(item, 'id', 'ticker', 'category', 'headline', 'summary', 'source', 'publishedAt'),
    )
  );
}

/** A cached analysis: its window (`from`, `to`) and an analysis object with its ticker, type and signal. */
export function isCachedAnalysis(value: unknown): boolean {
  if (!isRecord(value) || !strings(value, 'from', 'to')) return false;
  const a = value.analysis;
  return (
    isRecord(a) &&
    strings(a, 'ticker', 'type', 'summary') &&
    finite(a, 'barCount', 'score') &&
    isRecord(a.indicators) &&
    Array.isArray(a.reasons)
  );
}
