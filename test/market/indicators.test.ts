import {
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
} from '../../src/market/analysis/indicators.js';
import { computeAnalysis } from '../../src/market/analysis/analysis.js';
import type { DailyBar } from '../../src/market/providers/market-data.provider.js';

// A fixed, hand-made close series with rises, falls and a drawdown (40 values).
const CLOSES = [
  44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.1, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28,
  46.28, 46.0, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.18,
  44.22, 44.57, 43.42, 42.66, 43.13, 43.9, 44.5, 45.2, 44.8, 45.6, 46.1, 46.9,
];

// Reference implementations written independently, as plain loops.
function refSma(v: number[], p: number): number {
  let s = 0;
  for (let i = v.length - p; i < v.length; i++) s += v[i];
  return s / p;
}

function refEmaAll(v: number[], p: number): number[] {
  const out: number[] = [];
  let seed = 0;
  for (let i = 0; i < p; i++) seed += v[i];
  let e = seed / p;
  out.push(e);
  for (let i = p; i < v.length; i++) {
    e = v[i] * (2 / (p + 1)) + e * (1 - 2 / (p + 1));
    out.push(e);
  }
  return out; // out[0] belongs to index p - 1
}

function refRsi(v: number[], p: number): number {
  const gains: number[] = [];
  const losses: number[] = [];
  for (let i = 1; i < v.length; i++) {
    gains.push(Math.max(v[i] - v[i - 1], 0));
    losses.push(Math.max(v[i - 1] - v[i], 0));
  }
  let ag = 0;
  let al = 0;
  for (let i = 0; i < p; i++) {
    ag += gains[i] / p;
    al += losses[i] / p;
  }
  for (let i = p; i < gains.length; i++) {
    ag = (ag * (p - 1) + gains[i]) / p;
    al = (al * (p - 1) + losses[i]) / p;
  }
  return 100 - 100 / (1 + ag / al);
}

function refMaxDrawdown(v: number[]): number {
  let worst = 0;
  for (let i = 0; i < v.length; i++)
    for (let j = i + 1; j < v.length; j++) worst = Math.max(worst, (v[i] - v[j]) / v[i]);
  return worst;
}

describe('indicators on a fixed series', () => {
  it('sma equals the mean of the last period values', () => {
    expect(sma(CLOSES, 10)).toBeCloseTo(refSma(CLOSES, 10), 12);
    expect(sma(CLOSES, 40)).toBeCloseTo(refSma(CLOSES, 40), 12);
    expect(sma(CLOSES, 41)).toBeNull();
    expect(sma([1, 2, 3], 3)).toBe(2);
  });

  it('ema is seeded with the SMA of the first period values', () => {
    const ref = refEmaAll(CLOSES, 10);
    expect(ema(CLOSES, 10)).toBeCloseTo(ref[ref.length - 1], 12);
    expect(ema(CLOSES.slice(0, 10), 10)).toBeCloseTo(refSma(CLOSES.slice(0, 10), 10), 12);
    expect(ema(CLOSES.slice(0, 9), 10)).toBeNull();
    // Hand-checked: [1,2,3] seeds 2, then 4 → 2 + 0.5 × (4 − 2) = 3 with period 3 (k = 0.5).
    expect(ema([1, 2, 3, 4], 3)).toBe(3);
  });

  it('rsi uses Wilder smoothing', () => {
    expect(rsi(CLOSES, 14)).toBeCloseTo(refRsi(CLOSES, 14), 10);
    expect(rsi(CLOSES.slice(0, 15), 14)).toBeCloseTo(refRsi(CLOSES.slice(0, 15), 14), 10);
    expect(rsi(CLOSES.slice(0, 14), 14)).toBeNull();
    expect(rsi([1, 2, 3, 4, 5, 6], 3)).toBe(100);
    expect(rsi([5, 5, 5, 5, 5], 3)).toBe(50);
  });

  it('max drawdown is the largest peak-to-trough fall, positive', () => {
    expect(maxDrawdown(CLOSES)).toBeCloseTo(refMaxDrawdown(CLOSES), 12);
    expect(maxDrawdown([100, 80, 120, 60, 90])).toBeCloseTo(0.5, 12);
    expect(maxDrawdown([1, 2, 3])).toBe(0);
    expect(maxDrawdown([])).toBeNull();
  });

  it('macd line, signal and histogram follow EMA(12) − EMA(26) and EMA(9) of that line', () => {
    const e12 = refEmaAll(CLOSES, 12); // index 0 ↔ value 11
    const e26 = refEmaAll(CLOSES, 26); // index 0 ↔ value 25
    const line: number[] = [];
    for (let i = 25; i < CLOSES.length; i++) line.push(e12[i - 11] - e26[i - 25]);
    const sig = refEmaAll(line, 9);
    const m = macd(CLOSES, 12, 26, 9);
    expect(m).not.toBeNull();
    expect(m?.macd).toBeCloseTo(line[line.length - 1], 12);
    expect(m?.signal).toBeCloseTo(sig[sig.length - 1], 12);
    expect(m?.histogram).toBeCloseTo(line[line.length - 1] - sig[sig.length - 1], 12);
    expect(macd(CLOSES.slice(0, 33))).toBeNull();
  });

  it('bollinger bands are SMA ± 2 population standard deviations', () => {
    const last = CLOSES.slice(-20);
    const mean = last.reduce((a, b) => a + b, 0) / 20;
    let sq = 0;
    for (const v of last) sq += (v - mean) * (v - mean);
    const sd = Math.sqrt(sq / 20);
    const b = bollinger(CLOSES, 20, 2);
    expect(b?.middle).toBeCloseTo(mean, 12);
    expect(b?.upper).toBeCloseTo(mean + 2 * sd, 12);
    expect(b?.lower).toBeCloseTo(mean - 2 * sd, 12);
  });

  it('annualized volatility is the sample stdev of log returns × √252', () => {
    const r: number[] = [];
    for (let i = 1; i < CLOSES.length; i++) r.push(Math.log(CLOSES[i] / CLOSES[i - 1]));
    let mean = 0;
    for (const x of r) mean += x / r.length;
    let ss = 0;
    for (const x of r) ss += (x - mean) ** 2;
    expect(annualizedVolatility(CLOSES)).toBeCloseTo(
      Math.sqrt(ss / (r.length - 1)) * Math.sqrt(252),
      12,
    );
    expect(annualizedVolatility([1, 2])).toBeNull();
  });

  it('52-week high/low look at the last 252 values only', () => {
    const long = Array.from({ length: 300 }, (_, i) => (i < 48 ? 1000 - i : 100 + (i % 7)));
    expect(high52w(long)).toBe(106);
    expect(low52w(long)).toBe(100);
    expect(high52w(CLOSES)).toBe(46.9);
    expect(low52w(CLOSES)).toBe(42.66);
    expect(high52w([])).toBeNull();
    expect(periodReturn([100, 110, 121], 2)).toBeCloseTo(0.21, 12);
  });
});

describe('computeAnalysis', () => {
  const bars = (closes: number[]): DailyBar[] =>
    closes.map((c, i) => ({
      date: new Date(Date.UTC(2024, 0, 1) + i * 86_400_000).toISOString().slice(0, 10),
      open: c,
      high: c * 1.01,
      low: c * 0.99,
      close: c,
      volume: 1000,
    }));

  it('calls a steady uptrend a buy and a steady downtrend a sell, with reasons', () => {
    const up = computeAnalysis(
      'UP',
      bars(Array.from({ length: 300 }, (_, i) => 100 * 1.002 ** i + Math.sin(i) * 0.5)),
      'long_term',
    );
    expect(up.signal).toBe('buy');
    expect(up.reasons.length).toBeGreaterThan(0);
    expect(up.summary).toContain('UP closed at');
    const down = computeAnalysis(
      'DN',
      bars(Array.from({ length: 300 }, (_, i) => 100 * 0.998 ** i + Math.sin(i) * 0.5)),
      'comprehensive',
    );
    expect(down.signal).toBe('sell');
    expect(down.indicators.maxDrawdown).toBeGreaterThan(0.4);
  });

  it('answers hold with a not-enough-data reason for short histories', () => {
    const a = computeAnalysis('NEW', bars([10, 11, 12]), 'technical');
    expect(a.signal).toBe('hold');
    expect(a.indicators.sma20).toBeNull();
    expect(a.reasons.join(' ')).toContain('not enough data');
    expect(computeAnalysis('NONE', [], 'short_term').asOfDate).toBeNull();
  });
});
