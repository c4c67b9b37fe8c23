/** Synthetic trades of a ticker and day, their events, and the orders both sources answer them in. */
import type { Trade, TradeEvent } from '../market-data.provider.js';
import { addTradingDays, compactDate, toDayNumber } from '../trading-calendar.js';
import { syntheticBar } from './bar-series.js';
import { hashString, mulberry32, normal, round } from './seeded-random.js';
import { tickerProfile } from './ticker-profiles.js';

// Math functions bound once: hot loops then skip a global lookup per call, which is costly
// inside vm contexts (Jest runs every test file in one).
const { exp, floor, max, round: mathRound } = Math;

/** Default trades generated per ticker and trading day. */
export const DEFAULT_TRADES_PER_TICKER_DAY = 40;

const VENUES: readonly string[] = ['XNYS', 'XNAS', 'ARCX', 'BATS', 'IEXG', 'EDGX'];
const VENUE_WEIGHTS: readonly number[] = [0.3, 0.3, 0.12, 0.12, 0.08, 0.08];
/** Regular session in UTC milliseconds after midnight: 14:30 to 21:00. */
const SESSION_START_MS = (14 * 60 + 30) * 60_000;
const SESSION_LENGTH_MS = 390 * 60_000;

/** Venues trades are executed on. */
export const TRADE_VENUES: readonly string[] = VENUES;

/** Trade id of the n-th (1-based) trade of a ticker on a day: `T-<ticker>-<yyyymmdd>-<n>`. */
export function tradeId(ticker: string, date: string, n: number): string {
  return `T-${ticker}-${compactDate(date)}-${n}`;
}

/** Splits a trade id into ticker, date and n; undefined when it is not one. */
export function parseTradeId(id: string): { ticker: string; date: string; n: number } | undefined {
  const m = /^T-(.+)-(\d{4})(\d{2})(\d{2})-(\d+)$/.exec(id);
  if (!m) return undefined;
  return { ticker: m[1], date: `${m[2]}-${m[3]}-${m[4]}`, n: Number(m[5]) };
}

/** Strict order of trades: tradeDate, then executedAt, then tradeId (code-unit order). */
export function compareTrades(a: Trade, b: Trade): number {
  if (a.tradeDate !== b.tradeDate) return a.tradeDate < b.tradeDate ? -1 : 1;
  if (a.executedAt !== b.executedAt) return a.executedAt < b.executedAt ? -1 : 1;
  if (a.tradeId !== b.tradeId) return a.tradeId < b.tradeId ? -1 : 1;
  return 0;
}

/** Order of one trade's events: by time, then type. */
export function compareTradeEvents(a: TradeEvent, b: TradeEvent): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  return 0;
}

/** The trades of one ticker on one trading day, in execution order (empty on other days). */
export function syntheticTradesForDay(ticker: string, date: string, perDay: number): Trade[] {
  const bar = syntheticBar(ticker, date);
  if (!bar || perDay <= 0) return [];
  const rand = mulberry32(hashString(`trades:${ticker}:${date}`));
  const dp = tickerProfile(ticker).priceDecimals;
  // Distinct execution offsets in the session, sorted: n follows execution order.
  const offsets: number[] = new Array(perDay);
  for (let i = 0; i < perDay; i++) offsets[i] = floor(rand() * SESSION_LENGTH_MS);
  offsets.sort((a, b) => a - b);
  for (let i = 1; i < perDay; i++)
    if (offsets[i] <= offsets[i - 1]) offsets[i] = offsets[i - 1] + 1;
  const midnight = toDayNumber(date) * 86_400_000;
  const out: Trade[] = new Array(perDay);
  for (let i = 0; i < perDay; i++) {
    const side = rand() < 0.5 ? 'buy' : 'sell';
    let pick = rand();
    let v = 0;
    while (v < VENUES.length - 1 && pick >= VENUE_WEIGHTS[v]) pick -= VENUE_WEIGHTS[v++];
    const raw = exp(4 + 1.3 * normal(rand));
    const quantity = rand() < 0.6 ? max(100, mathRound(raw / 100) * 100) : max(1, mathRound(raw));
    const price = round(bar.low + rand() * (bar.high - bar.low), dp);
    out[i] = {
      tradeId: tradeId(ticker, date, i + 1),
      ticker,
      side,
      venue: VENUES[v],
      quantity,
      price,
      executedAt: new Date(midnight + SESSION_START_MS + offsets[i]).toISOString(),
      tradeDate: date,
    };
  }
  return out;
}

/** Events of a trade as known on `today`: confirmation always, an amendment for ~3%, settlement at T+2 trading days once reached. */
export function syntheticTradeEvents(trade: Trade, today: string): TradeEvent[] {
  const rand = mulberry32(hashString(`events:${trade.tradeId}`));
  const executed = Date.parse(trade.executedAt);
  const events: TradeEvent[] = [
    {
      tradeId: trade.tradeId,
      type: 'confirmation',
      at: new Date(executed + 200 + floor(rand() * 5000)).toISOString(),
      status: 'confirmed',
    },
  ];
  if (rand() < 0.03) {
    events.push({
      tradeId: trade.tradeId,
      type: 'amendment',
      at: new Date(executed + 30_000 + floor(rand() * 570_000)).toISOString(),
      status: 'amended',
    });
  }
  const settlementDate = addTradingDays(trade.tradeDate, 2);
  if (settlementDate <= today) {
    events.push({
      tradeId: trade.tradeId,
      type: 'settlement',
      at: `${settlementDate}T12:00:00.000Z`,
      status: 'settled',
    });
  }
  return events.sort(compareTradeEvents);
}
