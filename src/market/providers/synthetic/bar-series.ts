/**
 * Synthetic daily bars: one random walk per ticker from the series epoch, extended on demand and
 * cached in memory, so a day's bar never depends on the range asked; and quotes built from bars.
 */
import type { DailyBar, Quote } from '../market-data.provider.js';
import {
  addDays,
  closeInstantOf,
  toDayNumber,
  tradingDayCount,
  tradingDays,
} from '../trading-calendar.js';
import { hashString, mulberry32, normal, round } from './seeded-random.js';
import { tickerProfile } from './ticker-profiles.js';

// Math functions bound once: hot loops then skip a global lookup per call, which is costly
// inside vm contexts (Jest runs every test file in one).
const { abs, exp, log, max, min, round: mathRound } = Math;

/** First trading day of every synthetic bar series; bars before it do not exist. */
export const SERIES_EPOCH = '2000-01-03';

const EPOCH_DAY = toDayNumber(SERIES_EPOCH);

interface Series {
  rand: () => number;
  logClose: number;
  length: number;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
}

const seriesCache = new Map<string, Series>();
const MEAN_REVERSION = 0.003;

function grow(a: Float64Array, size: number): Float64Array {
  const b = new Float64Array(size);
  b.set(a);
  return b;
}

function seriesThrough(ticker: string, count: number): Series {
  let s = seriesCache.get(ticker);
  if (!s) {
    const p = tickerProfile(ticker);
    s = {
      rand: mulberry32(hashString(`bars:${ticker}`)),
      logClose: log(p.startPrice),
      length: 0,
      open: new Float64Array(0),
      high: new Float64Array(0),
      low: new Float64Array(0),
      close: new Float64Array(0),
      volume: new Float64Array(0),
    };
    seriesCache.set(ticker, s);
  }
  if (s.length >= count) return s;
  if (s.open.length < count) {
    const size = max(count, s.open.length * 2, 1024);
    s.open = grow(s.open, size);
    s.high = grow(s.high, size);
    s.low = grow(s.low, size);
    s.close = grow(s.close, size);
    s.volume = grow(s.volume, size);
  }
  const p = tickerProfile(ticker);
  const dp = p.priceDecimals;
  const logStart = log(p.startPrice);
  for (let i = s.length; i < count; i++) {
    // The walk always runs from the epoch, so a day's bar never depends on the range asked.
    const zRet = normal(s.rand);
    const zGap = normal(s.rand);
    const uHigh = s.rand();
    const uLow = s.rand();
    const zVol = normal(s.rand);
    const prevClose = i === 0 ? p.startPrice : s.close[i - 1];
    const trend = logStart + p.dailyDrift * i;
    const ret = p.dailyDrift + p.dailyVol * zRet - MEAN_REVERSION * (s.logClose - trend);
    s.logClose += ret;
    const close = round(exp(s.logClose), dp);
    const open = round(prevClose * exp(p.dailyVol * 0.25 * zGap), dp);
    s.open[i] = open;
    s.close[i] = close;
    s.high[i] = round(max(open, close) * (1 + p.dailyVol * 0.8 * uHigh), dp);
    s.low[i] = round(min(open, close) * (1 - p.dailyVol * 0.8 * uLow), dp);
    s.volume[i] = max(100, mathRound(p.baseVolume * exp(0.35 * zVol) * (1 + 15 * abs(ret))));
  }
  s.length = count;
  return s;
}

/** Forgets every computed bar series (they are rebuilt on demand, identically); for tests and memory pressure. */
export function clearSyntheticCaches(): void {
  seriesCache.clear();
}

/** Synthetic daily bars of `ticker` for the trading days in `[from, to]` (none before the epoch). */
export function syntheticBars(ticker: string, from: string, to: string): DailyBar[] {
  const start = toDayNumber(from) < EPOCH_DAY ? SERIES_EPOCH : from;
  if (toDayNumber(start) > toDayNumber(to)) return [];
  const dates = tradingDays(start, to);
  if (dates.length === 0) return [];
  // Position of `start` in the walk: trading days from the epoch up to the day before it.
  const i0 = start === SERIES_EPOCH ? 0 : tradingDayCount(SERIES_EPOCH, addDays(start, -1));
  const s = seriesThrough(ticker, i0 + dates.length);
  const out: DailyBar[] = new Array(dates.length);
  for (let k = 0; k < dates.length; k++) {
    const i = i0 + k;
    out[k] = {
      date: dates[k],
      open: s.open[i],
      high: s.high[i],
      low: s.low[i],
      close: s.close[i],
      volume: s.volume[i],
    };
  }
  return out;
}

/** The synthetic bar of one trading day, or undefined when `date` is not a trading day. */
export function syntheticBar(ticker: string, date: string): DailyBar | undefined {
  return syntheticBars(ticker, date, date)[0];
}

/** The latest two bars on or before `date` (`[previous, latest]`), fewer near the epoch. */
export function latestBars(ticker: string, date: string): DailyBar[] {
  return syntheticBars(ticker, addDays(date, -10), date).slice(-2);
}

/**
 * Builds a quote from the latest bar and the one before it; `asOf` is the day's close (21:00 UTC),
 * or `now` while that day is still open: a quote is never stamped later than it was made.
 */
export function quoteFromBars(
  ticker: string,
  currency: string,
  latest: DailyBar,
  previous: DailyBar | undefined,
  now: number = Date.now(),
): Quote {
  const previousClose = previous ? previous.close : latest.open;
  const change = round(latest.close - previousClose, 4);
  return {
    ticker,
    price: latest.close,
    open: latest.open,
    high: latest.high,
    low: latest.low,
    previousClose,
    change,
    changePercent: previousClose === 0 ? 0 : round((change / previousClose) * 100, 2),
    volume: latest.volume,
    currency,
    asOf: new Date(Math.min(closeInstantOf(latest.date), now)).toISOString(),
  };
}
