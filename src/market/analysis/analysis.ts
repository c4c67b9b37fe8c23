/** Rule-based stock analysis over daily bars: indicators, a buy/sell/hold signal with reasons, a summary. */
import type { DailyBar } from '../providers/market-data.provider.js';
import { closeInstantOf } from '../providers/trading-calendar.js';
import {
  type BollingerValue,
  type MacdValue,
  TRADING_DAYS_PER_YEAR,
  annualizedVolatility,
  bollinger,
  ema,
  high52w,
  low52w,
  macd,
  maxDrawdown,
  periodReturn,
  rsi,
  sma,
} from './indicators.js';

/** Kind of analysis: which rule families decide the signal. */
export type AnalysisType = 'short_term' | 'long_term' | 'technical' | 'comprehensive';
/** The analysis verdict. */
export type AnalysisSignal = 'buy' | 'sell' | 'hold';

/** Every analysis type, for validation. */
export const ANALYSIS_TYPES: readonly AnalysisType[] = [
  'short_term',
  'long_term',
  'technical',
  'comprehensive',
];

/** Indicator values of the latest bar; prices in the ticker's currency, fractions as 0.1 = 10 %. */
export interface AnalysisIndicators {
  sma20: number | null;
  sma50: number | null;
  sma200: number | null;
  ema12: number | null;
  ema26: number | null;
  macd: MacdValue | null;
  rsi14: number | null;
  bollinger: BollingerValue | null;
  /** Annualized volatility of daily log returns over the last year (fraction). */
  annualizedVolatility: number | null;
  /** Largest peak-to-trough fall over all bars given (positive fraction). */
  maxDrawdown: number | null;
  /** Highest high / lowest low of the last 252 bars. */
  high52w: number | null;
  low52w: number | null;
  /** Price change over 21 / 63 / 252 bars (fraction). */
  return1m: number | null;
  return3m: number | null;
  return1y: number | null;
}

/** Result of `computeAnalysis`. */
export interface StockAnalysis {
  ticker: string;
  type: AnalysisType;
  /** Date of the latest bar used (`YYYY-MM-DD`), null without bars. */
  asOfDate: string | null;
  /** Bars the analysis used. */
  barCount: number;
  lastClose: number | null;
  indicators: AnalysisIndicators;
  signal: AnalysisSignal;
  /** Sum of the rule votes (+1 bullish, −1 bearish); ≥ 2 is buy, ≤ −2 is sell. */
  score: number;
  /** One line per rule that voted, plus risk notes. */
  reasons: string[];
  /** A few plain-language sentences. */
  summary: string;
}

/** Score at or above which the signal is buy (and at or below whose negative it is sell). */
const SIGNAL_THRESHOLD = 2;
const HIGH_VOLATILITY = 0.4;

const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;
const price = (x: number): string => x.toFixed(2);

/** Computes indicators and a rule-based signal for `ticker` from bars in date order. */
export function computeAnalysis(
  ticker: string,
  bars: readonly DailyBar[],
  type: AnalysisType,
  now: number = Date.now(),
): StockAnalysis {
  const ordered = isDateOrdered(bars)
    ? bars
    : [...bars].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  const closes = ordered.map((b) => b.close);
  const lastYear = ordered.slice(-TRADING_DAYS_PER_YEAR);
  const indicators: AnalysisIndicators = {
    sma20: sma(closes, 20),
    sma50: sma(closes, 50),
    sma200: sma(closes, 200),
    ema12: ema(closes, 12),
    ema26: ema(closes, 26),
    macd: macd(closes, 12, 26, 9),
    rsi14: rsi(closes, 14),
    bollinger: bollinger(closes, 20, 2),
    annualizedVolatility: annualizedVolatility(closes.slice(-(TRADING_DAYS_PER_YEAR + 1))),
    maxDrawdown: maxDrawdown(closes),
    high52w: high52w(lastYear.map((b) => b.high)),
    low52w: low52w(lastYear.map((b) => b.low)),
    return1m: periodReturn(closes, 21),
    return3m: periodReturn(closes, 63),
    return1y: periodReturn(closes, 252),
  };
  const last = closes.length ? closes[closes.length - 1] : null;
  const votes: Array<{ vote: number; reason: string }> = [];
  const vote = (v: number, reason: string) => votes.push({ vote: v, reason });
  const shortTerm = type !== 'long_term';
  const longTerm = type !== 'short_term';

  if (last !== null && shortTerm) {
    // Momentum and mean-reversion rules (days to weeks).
    const r = indicators.rsi14;
    if (r !== null && r < 30) vote(1, `RSI(14) is ${r.toFixed(1)}: oversold`);
    else if (r !== null && r > 70) vote(-1, `RSI(14) is ${r.toFixed(1)}: overbought`);
    const m = indicators.macd;
    if (m !== null)
      vote(
        m.histogram >= 0 ? 1 : -1,
        `MACD is ${m.histogram >= 0 ? 'above' : 'below'} its signal line (histogram ${m.histogram.toFixed(3)})`,
      );
    if (indicators.sma20 !== null)
      vote(
        last >= indicators.sma20 ? 1 : -1,
        `close ${price(last)} is ${last >= indicators.sma20 ? 'above' : 'below'} the 20-day average ${price(indicators.sma20)}`,
      );
    const bb = indicators.bollinger;
    if (bb !== null && last < bb.lower)
      vote(1, `close is below the lower Bollinger band ${price(bb.lower)}`);
    else if (bb !== null && last > bb.upper)
      vote(-1, `close is above the upper Bollinger band ${price(bb.upper)}`);
  }
  if (last !== null && longTerm) {
    // Trend rules (months to years).
    const { sma50, sma200 } = indicators;
    if (sma50 !== null && sma200 !== null)
      vote(
        sma50 >= sma200 ? 1 : -1,
        `50-day average is ${sma50 >= sma200 ? 'above' : 'below'} the 200-day average (${sma50 >= sma200 ? 'golden' : 'death'} cross regime)`,
      );
    if (sma200 !== null)
      vote(
        last >= sma200 ? 1 : -1,
        `close is ${last >= sma200 ? 'above' : 'below'} the 200-day average ${price(sma200)}`,
      );
  }
  if (last !== null && (type === 'long_term' || type === 'comprehensive')) {
    // Performance rules.
    const y = indicators.return1y;
    if (y !== null && y > 0.1) vote(1, `up ${pct(y)} over the last year`);
    else if (y !== null && y < -0.1) vote(-1, `down ${pct(-y)} over the last year`);
    const h = indicators.high52w;
    if (h !== null && last < h * 0.8)
      vote(-1, `${pct(1 - last / h)} below the 52-week high ${price(h)}`);
  }

  const score = votes.reduce((s, v) => s + v.vote, 0);
  const reasons = votes.map((v) => `${v.vote > 0 ? '+' : '−'} ${v.reason}`);
  const vol = indicators.annualizedVolatility;
  if (vol !== null && vol > HIGH_VOLATILITY && (type === 'comprehensive' || type === 'long_term'))
    reasons.push(`note: annualized volatility is high (${pct(vol, 0)})`);
  if (last === null) reasons.push('not enough data: no bars');
  else if (votes.length === 0)
    reasons.push(
      `not enough data: ${closes.length} bars are too few for the ${type.replace('_', '-')} rules`,
    );
  const signal: AnalysisSignal =
    score >= SIGNAL_THRESHOLD ? 'buy' : score <= -SIGNAL_THRESHOLD ? 'sell' : 'hold';

  return {
    ticker,
    type,
    asOfDate: ordered.length ? ordered[ordered.length - 1].date : null,
    barCount: ordered.length,
    lastClose: last,
    indicators,
    signal,
    score,
    reasons,
    summary: summarize(ticker, type, signal, score, votes.length, last, ordered, indicators, now),
  };
}

function summarize(
  ticker: string,
  type: AnalysisType,
  signal: AnalysisSignal,
  score: number,
  rules: number,
  last: number | null,
  bars: readonly DailyBar[],
  ind: AnalysisIndicators,
  now: number,
): string {
  if (last === null)
    return `${ticker}: no price history, so no ${type.replace('_', '-')} view (hold).`;
  const day = bars[bars.length - 1].date;
  // A day whose session has not closed yet is never called closed.
  const parts = [
    closeInstantOf(day) <= now
      ? `${ticker} closed at ${price(last)} on ${day}.`
      : `${ticker} traded at ${price(last)} on ${day} (the session is still open).`,
  ];
  const verdict =
    signal === 'buy'
      ? 'leans bullish (buy)'
      : signal === 'sell'
        ? 'leans bearish (sell)'
        : 'is mixed (hold)';
  parts.push(
    `The ${type.replace('_', '-')} picture ${verdict}: ${rules} rules voted, net score ${score >= 0 ? '+' : ''}${score}.`,
  );
  const facts: string[] = [];
  if (ind.rsi14 !== null) facts.push(`RSI ${ind.rsi14.toFixed(0)}`);
  if (ind.sma200 !== null)
    facts.push(`${last >= ind.sma200 ? 'above' : 'below'} its 200-day average`);
  if (ind.return1y !== null)
    facts.push(`${ind.return1y >= 0 ? 'up' : 'down'} ${pct(Math.abs(ind.return1y), 0)} in a year`);
  if (ind.annualizedVolatility !== null)
    facts.push(`volatility ${pct(ind.annualizedVolatility, 0)} a year`);
  if (facts.length) parts.push(`${facts.join(', ')}.`);
  return parts.join(' ');
}

function isDateOrdered(bars: readonly DailyBar[]): boolean {
  for (let i = 1; i < bars.length; i++) if (bars[i - 1].date > bars[i].date) return false;
  return true;
}
