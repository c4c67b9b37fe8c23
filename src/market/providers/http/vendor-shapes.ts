/**
 * Checks of the vendor's payloads before anything reaches the cache: each answer must have the
 * shape of its route (and name the ticker asked for), else it is a source error
 * (`SOURCE_UNAVAILABLE`), never a cached value.
 */
import { isDailyBar, isFinancialStatement, isNewsItems, isQuote } from '../../value-shapes.js';
import { MarketDataError } from '../market-data.errors.js';
import type {
  DailyBar,
  FinancialStatement,
  NewsItem,
  Quote,
  Trade,
  TradeEvent,
} from '../market-data.provider.js';

type Fields = Record<string, unknown>;

function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The error of a payload that is not what the route promises (`what` names the route, never the payload). */
export function malformed(what: string, detail: string): MarketDataError {
  return new MarketDataError('SOURCE_UNAVAILABLE', `vendor ${what}: malformed answer (${detail})`);
}

/** `{ tickers: string[] }` → the tickers, upper case. */
export function toTickers(body: unknown): string[] {
  if (!isRecord(body) || !Array.isArray(body.tickers))
    throw malformed('tickers', 'expected { tickers: [...] }');
  if (!body.tickers.every((t) => typeof t === 'string' && /^[A-Za-z0-9.\-^=]{1,16}$/.test(t)))
    throw malformed('tickers', 'a ticker is not a short symbol');
  return body.tickers.map((t) => (t as string).toUpperCase());
}

/** A quote of `ticker`. */
export function toQuote(body: unknown, ticker: string): Quote {
  if (!isQuote(body)) throw malformed('quote', 'not a quote');
  if (body.ticker.toUpperCase() !== ticker) throw malformed('quote', 'another ticker');
  if (Number.isNaN(Date.parse(body.asOf))) throw malformed('quote', 'asOf is not a time');
  return body;
}

/** A statement of `ticker` for the period and quarter asked. */
export function toStatement(
  body: unknown,
  ticker: string,
  period: string,
  quarter: string,
): FinancialStatement {
  if (!isFinancialStatement(body)) throw malformed('financials', 'not a statement');
  if (body.ticker.toUpperCase() !== ticker || body.period !== period || body.quarter !== quarter)
    throw malformed('financials', 'another ticker, period or quarter');
  return body;
}

/** `{ items: NewsItem[] }` of `ticker`. */
export function toNews(body: unknown, ticker: string): NewsItem[] {
  const items = isRecord(body) ? body.items : undefined;
  if (!isNewsItems(items)) throw malformed('news', 'expected { items: [...] }');
  if (items.some((n) => n.ticker.toUpperCase() !== ticker))
    throw malformed('news', 'another ticker');
  return items;
}

/** `{ bars: DailyBar[] }` inside `[from, to]`, in strictly increasing date order. */
export function toBars(body: unknown, from: string, to: string): DailyBar[] {
  const bars = isRecord(body) ? body.bars : undefined;
  if (!Array.isArray(bars) || !bars.every(isDailyBar))
    throw malformed('bars', 'expected { bars: [...] }');
  let previous = '';
  for (const b of bars) {
    if (b.date < from || b.date > to || b.date <= previous)
      throw malformed('bars', 'a bar is out of range or out of order');
    previous = b.date;
  }
  return bars;
}

function isTrade(v: unknown): v is Trade {
  return (
    isRecord(v) &&
    ['tradeId', 'ticker', 'venue', 'executedAt', 'tradeDate'].every(
      (k) => typeof v[k] === 'string',
    ) &&
    (v.side === 'buy' || v.side === 'sell') &&
    typeof v.quantity === 'number' &&
    Number.isFinite(v.quantity) &&
    typeof v.price === 'number' &&
    Number.isFinite(v.price)
  );
}

/** One page of trades: `{ trades: Trade[], next?: string }`. */
export function toTradePage(body: unknown): { trades: Trade[]; next?: string } {
  if (!isRecord(body) || !Array.isArray(body.trades) || !body.trades.every(isTrade))
    throw malformed('trades', 'expected { trades: [...] }');
  if (body.next !== undefined && body.next !== null && typeof body.next !== 'string')
    throw malformed('trades', 'next is not a cursor');
  return { trades: body.trades, next: typeof body.next === 'string' ? body.next : undefined };
}

function isEvent(v: unknown): v is TradeEvent {
  return (
    isRecord(v) &&
    ['tradeId', 'at', 'status'].every((k) => typeof v[k] === 'string') &&
    ['confirmation', 'settlement', 'amendment'].includes(v.type as string)
  );
}

/** `{ events: { [tradeId]: TradeEvent[] } }` → a map, only for the ids asked. */
export function toTradeEvents(body: unknown, ids: readonly string[]): Map<string, TradeEvent[]> {
  const events = isRecord(body) ? body.events : undefined;
  if (!isRecord(events)) throw malformed('trade events', 'expected { events: {...} }');
  const out = new Map<string, TradeEvent[]>();
  for (const id of ids) {
    if (!Object.prototype.hasOwnProperty.call(events, id)) continue;
    const list = events[id];
    if (!Array.isArray(list) || !list.every(isEvent)) throw malformed('trade events', 'not events');
    out.set(id, list);
  }
  return out;
}
