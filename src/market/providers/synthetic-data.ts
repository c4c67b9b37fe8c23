/**
 * Deterministic generators behind the synthetic provider and the PostgreSQL seed, so that
 * both sources answer the same values. Everything is a pure function of (ticker, day) and
 * the options; computed bar series are cached in memory per ticker.
 */
import type {
  DailyBar,
  FinancialPeriod,
  FinancialStatement,
  FiscalQuarter,
  NewsCategory,
  NewsItem,
  Quote,
  Trade,
  TradeEvent,
} from './market-data.provider.js';
import {
  addDays,
  addTradingDays,
  compactDate,
  fromDayNumber,
  toDayNumber,
  tradingDayCount,
  tradingDays,
} from './trading-calendar.js';

// Math functions bound once: hot loops then skip a global lookup per call, which is costly
// inside vm contexts (Jest runs every test file in one).
const { abs, cos, exp, floor, imul, log, max, min, PI, round: mathRound, sqrt } = Math;

/** First trading day of every synthetic bar series; bars before it do not exist. */
export const SERIES_EPOCH = '2000-01-03';
/** Default trades generated per ticker and trading day. */
export const DEFAULT_TRADES_PER_TICKER_DAY = 40;
/** Maximum number of news items a `getNews` call answers. */
export const NEWS_LIMIT = 10;
/** How far back (calendar days) the synthetic source looks for news. */
export const NEWS_LOOKBACK_DAYS = 730;

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

/** 32-bit FNV-1a hash of a string. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32 PRNG: answers uniform numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller) from two uniforms of `rand`. */
function normal(rand: () => number): number {
  const u = 1 - rand();
  const v = rand();
  return sqrt(-2 * log(u)) * cos(2 * PI * v);
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return mathRound(value * f) / f;
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

const EPOCH_DAY = toDayNumber(SERIES_EPOCH);

// ---------------------------------------------------------------------------------------
// Bar series: one random walk per ticker from the epoch, extended on demand and cached.

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

/** Builds a quote from the latest bar and the one before it; `asOf` is the day's close (21:00 UTC). */
export function quoteFromBars(
  ticker: string,
  currency: string,
  latest: DailyBar,
  previous: DailyBar | undefined,
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
    asOf: `${latest.date}T21:00:00.000Z`,
  };
}

// ---------------------------------------------------------------------------------------
// Trades and their events.

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

// ---------------------------------------------------------------------------------------
// Financial statements.

const QUARTERS: readonly FiscalQuarter[] = ['Q1', 'Q2', 'Q3', 'Q4'];
const QUARTER_END_MONTH: Readonly<Record<FiscalQuarter, number>> = {
  Q1: 3,
  Q2: 6,
  Q3: 9,
  Q4: 12,
  FY: 12,
};

/** ISO time a statement of (fiscalYear, quarter) is published: 35 days after quarter end (50 for Q4/FY), 12:00 UTC. */
export function publicationTime(fiscalYear: number, quarter: FiscalQuarter): string {
  const month = QUARTER_END_MONTH[quarter];
  const lastDay = fromDayNumber(Date.UTC(fiscalYear, month, 1) / 86_400_000 - 1);
  return `${addDays(lastDay, quarter === 'Q4' || quarter === 'FY' ? 50 : 35)}T12:00:00.000Z`;
}

/** The latest fiscal year whose (quarter) statement is published on or before `today`. */
export function latestReportedFiscalYear(quarter: FiscalQuarter, today: string): number {
  let year = Number(today.slice(0, 4));
  while (publicationTime(year, quarter).slice(0, 10) > today) year--;
  return year;
}

/** Normalizes (period, quarter): `annual` always means `FY`; `quarterly` with `FY` is invalid (undefined). */
export function normalizePeriod(
  period: FinancialPeriod,
  quarter: FiscalQuarter,
): FiscalQuarter | undefined {
  if (period === 'annual') return 'FY';
  return quarter === 'FY' ? undefined : quarter;
}

function quarterFigures(ticker: string, fiscalYear: number, quarter: Exclude<FiscalQuarter, 'FY'>) {
  const p = tickerProfile(ticker);
  const rand = mulberry32(hashString(`fin:${ticker}:${fiscalYear}:${quarter}`));
  const years = fiscalYear - 2000;
  const annualRevenue = p.startPrice * p.sharesOutstanding * 0.6 * exp(0.06 * years);
  const seasonal = [0.95, 1.0, 1.02, 1.08][QUARTERS.indexOf(quarter)];
  const revenue = mathRound((annualRevenue / 4) * seasonal * (0.92 + rand() * 0.16));
  const operatingIncome = mathRound(revenue * (0.08 + rand() * 0.22));
  const netIncome = mathRound(operatingIncome * (0.7 + rand() * 0.15));
  const totalAssets = mathRound(
    annualRevenue * (1.4 + 0.05 * QUARTERS.indexOf(quarter)) * (0.97 + rand() * 0.06),
  );
  const totalLiabilities = mathRound(totalAssets * (0.45 + rand() * 0.2));
  const operatingCashFlow = mathRound(netIncome * (1.05 + rand() * 0.35));
  return { revenue, operatingIncome, netIncome, totalAssets, totalLiabilities, operatingCashFlow };
}

/** The synthetic statement of one fiscal year and quarter; FY sums the quarters (balance items from Q4). */
export function syntheticFinancials(
  ticker: string,
  period: FinancialPeriod,
  quarter: FiscalQuarter,
  fiscalYear: number,
): FinancialStatement {
  const p = tickerProfile(ticker);
  let figures: ReturnType<typeof quarterFigures>;
  if (quarter === 'FY') {
    const qs = QUARTERS.map((q) =>
      quarterFigures(ticker, fiscalYear, q as Exclude<FiscalQuarter, 'FY'>),
    );
    const sum = (k: keyof ReturnType<typeof quarterFigures>) =>
      qs.reduce((acc, q) => acc + q[k], 0);
    figures = {
      revenue: sum('revenue'),
      operatingIncome: sum('operatingIncome'),
      netIncome: sum('netIncome'),
      operatingCashFlow: sum('operatingCashFlow'),
      totalAssets: qs[3].totalAssets,
      totalLiabilities: qs[3].totalLiabilities,
    };
  } else {
    figures = quarterFigures(ticker, fiscalYear, quarter);
  }
  return {
    ticker,
    period,
    quarter,
    fiscalYear,
    ...figures,
    eps: round(figures.netIncome / p.sharesOutstanding, 2),
    currency: p.currency,
    asOf: publicationTime(fiscalYear, quarter),
  };
}

/** Every (period, quarter) combination a source stores per fiscal year. */
export const STATEMENT_KINDS: ReadonlyArray<{ period: FinancialPeriod; quarter: FiscalQuarter }> = [
  ...QUARTERS.map((quarter) => ({ period: 'quarterly' as const, quarter })),
  { period: 'annual', quarter: 'FY' },
];

// ---------------------------------------------------------------------------------------
// News.

const NEWS_CATEGORIES: readonly NewsCategory[] = ['earnings', 'markets', 'analyst', 'general'];
const NEWS_SOURCES: readonly string[] = [
  'Reuters',
  'Bloomberg',
  'Nikkei',
  'MarketWatch',
  'Financial Times',
  "Barron's",
];
const HEADLINES: Readonly<Record<NewsCategory, readonly string[]>> = {
  earnings: [
    '{name} beats revenue estimates',
    '{name} earnings preview: what to expect',
    '{name} trims full-year outlook',
    '{name} margins widen in latest quarter',
  ],
  markets: [
    '{ticker} shares move with broader market',
    '{ticker} trading volume surges',
    '{ticker} hits a one-month high',
    '{ticker} slips as sector rotates',
  ],
  analyst: [
    'Analyst upgrades {ticker} to buy',
    'Analyst cuts {ticker} price target',
    '{ticker} initiated at neutral',
    'Analysts split on {name} valuation',
  ],
  general: [
    '{name} announces new product line',
    '{name} names new CFO',
    '{name} expands share buyback',
    '{name} opens regional headquarters',
  ],
};

/** The news items of a ticker published on one calendar day (0–3 items), in publication order. */
export function syntheticNewsForDay(ticker: string, date: string): NewsItem[] {
  const p = tickerProfile(ticker);
  const rand = mulberry32(hashString(`news:${ticker}:${date}`));
  const count = floor(rand() * rand() * 4); // skewed to 0–1
  const items: NewsItem[] = [];
  const midnight = toDayNumber(date) * 86_400_000;
  const times: number[] = [];
  for (let k = 0; k < count; k++) times.push(floor(rand() * 86_400_000));
  times.sort((a, b) => a - b);
  for (let k = 0; k < count; k++) {
    const category = NEWS_CATEGORIES[floor(rand() * NEWS_CATEGORIES.length)];
    const templates = HEADLINES[category];
    const headline = templates[floor(rand() * templates.length)]
      .replace('{name}', p.name)
      .replace('{ticker}', ticker);
    items.push({
      id: `N-${ticker}-${compactDate(date)}-${k + 1}`,
      ticker,
      category,
      headline,
      summary: `${headline}. Synthetic ${category} coverage of ${p.name} (${ticker}) for ${date}.`,
      source: NEWS_SOURCES[floor(rand() * NEWS_SOURCES.length)],
      publishedAt: new Date(midnight + times[k]).toISOString(),
    });
  }
  return items;
}

/** Newest first, ties broken by id descending (code-unit order) — the order both sources answer. */
export function compareNewsDesc(a: NewsItem, b: NewsItem): number {
  if (a.publishedAt !== b.publishedAt) return a.publishedAt < b.publishedAt ? 1 : -1;
  if (a.id !== b.id) return a.id < b.id ? 1 : -1;
  return 0;
}
