/** The symbols of the synthetic source and each one's static profile (derived from a hash of the symbol). */
import { hashString, mulberry32, round } from './seeded-random.js';

const { round: mathRound } = Math;

/** The default symbols of the synthetic source (30 well-known US and Tokyo listings). */
export const DEFAULT_TICKERS: readonly string[] = [
  'AAPL',
  'MSFT',
  'GOOGL',
  'AMZN',
  'NVDA',
  'META',
  'TSLA',
  'JPM',
  'V',
  'JNJ',
  'WMT',
  'PG',
  'XOM',
  'UNH',
  'HD',
  'KO',
  'PEP',
  'DIS',
  'NFLX',
  'INTC',
  'AMD',
  'IBM',
  'ORCL',
  'CSCO',
  'BAC',
  'NKE',
  'MCD',
  '7203',
  '6758',
  '9984',
];

const NAMES: Readonly<Record<string, string>> = {
  AAPL: 'Apple Inc.',
  MSFT: 'Microsoft Corporation',
  GOOGL: 'Alphabet Inc.',
  AMZN: 'Amazon.com, Inc.',
  NVDA: 'NVIDIA Corporation',
  META: 'Meta Platforms, Inc.',
  TSLA: 'Tesla, Inc.',
  JPM: 'JPMorgan Chase & Co.',
  V: 'Visa Inc.',
  JNJ: 'Johnson & Johnson',
  WMT: 'Walmart Inc.',
  PG: 'Procter & Gamble Co.',
  XOM: 'Exxon Mobil Corporation',
  UNH: 'UnitedHealth Group Inc.',
  HD: 'The Home Depot, Inc.',
  KO: 'The Coca-Cola Company',
  PEP: 'PepsiCo, Inc.',
  DIS: 'The Walt Disney Company',
  NFLX: 'Netflix, Inc.',
  INTC: 'Intel Corporation',
  AMD: 'Advanced Micro Devices, Inc.',
  IBM: 'International Business Machines',
  ORCL: 'Oracle Corporation',
  CSCO: 'Cisco Systems, Inc.',
  BAC: 'Bank of America Corporation',
  NKE: 'NIKE, Inc.',
  MCD: "McDonald's Corporation",
  '7203': 'Toyota Motor Corporation',
  '6758': 'Sony Group Corporation',
  '9984': 'SoftBank Group Corp.',
};

/** Static description of a synthetic ticker (derived from a hash of the symbol). */
export interface TickerProfile {
  ticker: string;
  name: string;
  /** ISO 4217 code. */
  currency: string;
  /** MIC of the listing exchange. */
  exchange: string;
  /** Decimals prices are rounded to. */
  priceDecimals: number;
  /** Close on the epoch day, in currency units. */
  startPrice: number;
  /** Standard deviation of daily log returns (fraction). */
  dailyVol: number;
  /** Mean daily log drift of the trend line (fraction per trading day). */
  dailyDrift: number;
  /** Typical daily volume, in shares. */
  baseVolume: number;
  /** Shares outstanding (for EPS). */
  sharesOutstanding: number;
}

const profileCache = new Map<string, TickerProfile>();

/** The profile of a ticker (Tokyo-style 4-digit codes trade in JPY, others in USD). */
export function tickerProfile(ticker: string): TickerProfile {
  let p = profileCache.get(ticker);
  if (p) return p;
  const rand = mulberry32(hashString(`profile:${ticker}`));
  const jpy = /^\d{4}$/.test(ticker);
  p = {
    ticker,
    name: NAMES[ticker] ?? `${ticker} Holdings`,
    currency: jpy ? 'JPY' : 'USD',
    exchange: jpy ? 'XTKS' : rand() < 0.5 ? 'XNAS' : 'XNYS',
    priceDecimals: jpy ? 1 : 2,
    startPrice: round(jpy ? 800 + rand() * 4000 : 15 + rand() * 120, jpy ? 1 : 2),
    dailyVol: 0.01 + rand() * 0.015,
    dailyDrift: 0.00005 + rand() * 0.00025,
    baseVolume: mathRound((jpy ? 2e6 : 5e6) * (0.3 + rand() * 3)),
    sharesOutstanding: mathRound((0.5 + rand() * 15) * 1e9),
  };
  profileCache.set(ticker, p);
  return p;
}
