/**
 * Technical indicators as pure functions on number arrays (oldest value first). Each answers
 * the latest value, or null when there are not enough values for it.
 */

/** Trading days per year used to annualize (252). */
export const TRADING_DAYS_PER_YEAR = 252;

/** Simple moving average of the last `period` values; null when fewer than `period` values. */
export function sma(values: readonly number[], period: number): number | null {
  if (!(period >= 1) || values.length < period) return null;
  let sum = 0;
  for (let i = values.length - period; i < values.length; i++) sum += values[i];
  return sum / period;
}

/**
 * Exponential moving average series (k = 2 / (period + 1)), seeded with the SMA of the first
 * `period` values; entries before index `period - 1` are null.
 */
export function emaSeries(values: readonly number[], period: number): Array<number | null> {
  const out: Array<number | null> = new Array(values.length).fill(null);
  if (!(period >= 1) || values.length < period) return out;
  let prev = 0;
  for (let i = 0; i < period; i++) prev += values[i];
  prev /= period;
  out[period - 1] = prev;
  const k = 2 / (period + 1);
  for (let i = period; i < values.length; i++) {
    prev = prev + k * (values[i] - prev);
    out[i] = prev;
  }
  return out;
}

/** Latest exponential moving average (seeded with the SMA of the first `period` values); null when fewer than `period` values. */
export function ema(values: readonly number[], period: number): number | null {
  const series = emaSeries(values, period);
  return series.length ? series[series.length - 1] : null;
}

/** Latest MACD line, signal and histogram. */
export interface MacdValue {
  /** EMA(fast) − EMA(slow), in price units. */
  macd: number;
  /** EMA(signalPeriod) of the MACD line. */
  signal: number;
  /** macd − signal. */
  histogram: number;
}

/** MACD(fast, slow, signal), default (12, 26, 9); null when fewer than `slow + signal − 1` values. */
export function macd(
  values: readonly number[],
  fast = 12,
  slow = 26,
  signalPeriod = 9,
): MacdValue | null {
  if (values.length < slow + signalPeriod - 1) return null;
  const fastSeries = emaSeries(values, fast);
  const slowSeries = emaSeries(values, slow);
  const line: number[] = [];
  for (let i = slow - 1; i < values.length; i++)
    line.push((fastSeries[i] as number) - (slowSeries[i] as number));
  const signal = ema(line, signalPeriod);
  if (signal === null) return null;
  const last = line[line.length - 1];
  return { macd: last, signal, histogram: last - signal };
}

/**
 * Relative strength index with Wilder smoothing (0–100), default period 14: the first averages
 * are plain means of the first `period` gains/losses, then avg = (prev × (period − 1) + x) / period.
 * 100 when there are no losses (50 when the series is flat); null when fewer than `period + 1` values.
 */
export function rsi(values: readonly number[], period = 14): number | null {
  if (!(period >= 1) || values.length < period + 1) return null;
  let gain = 0;
  let loss = 0;
  for (let i = 1; i <= period; i++) {
    const d = values[i] - values[i - 1];
    if (d > 0) gain += d;
    else loss -= d;
  }
  gain /= period;
  loss /= period;
  for (let i = period + 1; i < values.length; i++) {
    const d = values[i] - values[i - 1];
    gain = (gain * (period - 1) + (d > 0 ? d : 0)) / period;
    loss = (loss * (period - 1) + (d < 0 ? -d : 0)) / period;
  }
  if (loss === 0) return gain === 0 ? 50 : 100;
  return 100 - 100 / (1 + gain / loss);
}

/** Latest Bollinger bands, in price units. */
export interface BollingerValue {
  /** SMA(period). */
  middle: number;
  /** middle + k × population standard deviation. */
  upper: number;
  /** middle − k × population standard deviation. */
  lower: number;
}

/** Bollinger bands (period 20, k = 2, population stdev); null when fewer than `period` values. */
export function bollinger(values: readonly number[], period = 20, k = 2): BollingerValue | null {
  const middle = sma(values, period);
  if (middle === null) return null;
  let sq = 0;
  for (let i = values.length - period; i < values.length; i++) sq += (values[i] - middle) ** 2;
  const sd = Math.sqrt(sq / period);
  return { middle, upper: middle + k * sd, lower: middle - k * sd };
}

/** Sample standard deviation of daily log returns × √252, as a fraction (0.25 = 25 %); null with fewer than 3 closes. */
export function annualizedVolatility(closes: readonly number[]): number | null {
  if (closes.length < 3) return null;
  const returns: number[] = [];
  for (let i = 1; i < closes.length; i++) returns.push(Math.log(closes[i] / closes[i - 1]));
  const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
  const variance = returns.reduce((a, r) => a + (r - mean) ** 2, 0) / (returns.length - 1);
  return Math.sqrt(variance) * Math.sqrt(TRADING_DAYS_PER_YEAR);
}

/** Largest peak-to-trough fall as a positive fraction (0.2 = 20 %); 0 when never below a peak; null when empty. */
export function maxDrawdown(closes: readonly number[]): number | null {
  if (closes.length === 0) return null;
  let peak = closes[0];
  let worst = 0;
  for (const c of closes) {
    if (c > peak) peak = c;
    else if (peak > 0) worst = Math.max(worst, (peak - c) / peak);
  }
  return worst;
}

/** Highest of the last 252 values (all values when fewer); null when empty. */
export function high52w(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  return Math.max(...values.slice(-TRADING_DAYS_PER_YEAR));
}

/** Lowest of the last 252 values (all values when fewer); null when empty. */
export function low52w(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  return Math.min(...values.slice(-TRADING_DAYS_PER_YEAR));
}

/** Change from `periods` values ago to the latest, as a fraction (0.05 = +5 %); null when too few values. */
export function periodReturn(values: readonly number[], periods: number): number | null {
  if (!(periods >= 1) || values.length <= periods) return null;
  const base = values[values.length - 1 - periods];
  return base === 0 ? null : values[values.length - 1] / base - 1;
}
