/** The SQL of the PostgreSQL provider and the mapping of its rows to market-data values. */
import type {
  DailyBar,
  FinancialPeriod,
  FinancialStatement,
  FiscalQuarter,
  NewsCategory,
  NewsItem,
  Trade,
  TradeEvent,
} from '../market-data.provider.js';

/** Columns of a trade row, in the shape `TradeRow` reads. */
export const TRADE_COLUMNS = `trade_id, ticker, side, venue, quantity, price, executed_at, to_char(trade_date, 'YYYY-MM-DD') AS trade_date`;
const BAR_COLUMNS = `to_char(date, 'YYYY-MM-DD') AS date, open, high, low, close, volume`;

/** Every ticker, sorted. */
export const TICKERS_SQL = 'SELECT ticker FROM tickers ORDER BY ticker';
/** The tickers of `$1` (a text array) that exist. */
export const KNOWN_TICKERS_SQL = 'SELECT ticker FROM tickers WHERE ticker = ANY($1::text[])';
/** Whether ticker `$1` exists, as `found`. */
export const TICKER_EXISTS_SQL = 'SELECT EXISTS (SELECT 1 FROM tickers WHERE ticker = $1) AS found';

/** The currency of ticker `$1` and its latest two bars on or before `$2` (one row with null bar columns when none). */
export const QUOTE_SQL = `SELECT t.currency, b.date, b.open, b.high, b.low, b.close, b.volume
         FROM tickers t
         LEFT JOIN LATERAL (
           SELECT ${BAR_COLUMNS} FROM daily_bars
            WHERE ticker = t.ticker AND date <= $2::date
            ORDER BY date DESC LIMIT 2
         ) b ON true
        WHERE t.ticker = $1
        ORDER BY b.date`;

/** The latest statement of ticker `$1`, period `$2`, quarter `$3` published before `$4`. */
export const FINANCIALS_SQL = `SELECT fiscal_year, revenue, operating_income, net_income, eps, total_assets, total_liabilities,
              operating_cash_flow, currency, as_of
         FROM financials
        WHERE ticker = $1 AND period = $2 AND quarter = $3 AND as_of < $4::timestamptz
        ORDER BY fiscal_year DESC LIMIT 1`;

/** Up to `$5` news items of ticker `$1`, category `$2`, published in `[$3, $4)`, newest first. */
export const NEWS_SQL = `SELECT id, category, headline, summary, source, published_at
         FROM news
        WHERE ticker = $1 AND category = $2 AND published_at >= $3::timestamptz AND published_at < $4::timestamptz
        ORDER BY published_at DESC, id DESC
        LIMIT $5`;

/** Bars of ticker `$1` in `[$2, $3]`, in date order. */
export const BARS_SQL = `SELECT ${BAR_COLUMNS} FROM daily_bars WHERE ticker = $1 AND date BETWEEN $2::date AND $3::date ORDER BY date`;

/** First day with a bar or a trade of each ticker of `$1` (a text array), as `first` (null when none); each MIN reads one index entry. */
export const FIRST_DAYS_SQL = `SELECT t.ticker,
              to_char(LEAST(
                (SELECT MIN(b.date) FROM daily_bars b WHERE b.ticker = t.ticker),
                (SELECT MIN(x.trade_date) FROM trades x WHERE x.ticker = t.ticker)
              ), 'YYYY-MM-DD') AS first
         FROM unnest($1::text[]) AS t(ticker)`;

/** Last day with a stored bar of each ticker of `$1` (a text array); tickers without bars answer null. */
export const LAST_BAR_DAYS_SQL = `SELECT t.ticker,
              to_char((SELECT MAX(b.date) FROM daily_bars b WHERE b.ticker = t.ticker), 'YYYY-MM-DD') AS last
         FROM unnest($1::text[]) AS t(ticker)`;

/** Last day with a stored trade of each ticker of `$1` (a text array); tickers without trades answer null. Each MAX reads one index entry. */
export const LAST_TRADE_DAYS_SQL = `SELECT t.ticker,
              to_char((SELECT MAX(x.trade_date) FROM trades x WHERE x.ticker = t.ticker), 'YYYY-MM-DD') AS last
         FROM unnest($1::text[]) AS t(ticker)`;

/** Events of the trade ids `$1` (a text array), by trade, time and type. */
export const TRADE_EVENTS_SQL =
  'SELECT trade_id, type, at, status FROM trade_events WHERE trade_id = ANY($1::text[]) ORDER BY trade_id, at, type';

/** A bar row (`date` is null in the quote query's row of a ticker without bars). */
export interface BarRow {
  date: string | null;
  open: number;
  high: number;
  low: number;
  close: number;
  /** bigint, as text. */
  volume: string;
}

/** A row of `QUOTE_SQL`. */
export interface QuoteRow extends BarRow {
  currency: string;
}

/** A row of `FINANCIALS_SQL` (bigint figures as text). */
export interface FinancialsRow {
  fiscal_year: number;
  revenue: string;
  operating_income: string;
  net_income: string;
  eps: number;
  total_assets: string;
  total_liabilities: string;
  operating_cash_flow: string;
  currency: string;
  as_of: Date;
}

/** A row of `NEWS_SQL`. */
export interface NewsRow {
  id: string;
  category: NewsCategory;
  headline: string;
  summary: string;
  source: string;
  published_at: Date;
}

/** A row of `TRADE_COLUMNS`. */
export interface TradeRow {
  trade_id: string;
  ticker: string;
  side: 'buy' | 'sell';
  venue: string;
  quantity: number;
  price: number;
  executed_at: Date;
  trade_date: string;
}

/** A row of `TRADE_EVENTS_SQL`. */
export interface TradeEventRow {
  trade_id: string;
  type: TradeEvent['type'];
  at: Date;
  status: string;
}

/** A bar from its row. */
export function toBar(r: BarRow): DailyBar {
  return {
    date: r.date ?? '',
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: Number(r.volume),
  };
}

/** A statement of `ticker` from its row. */
export function toStatement(
  ticker: string,
  period: FinancialPeriod,
  quarter: FiscalQuarter,
  r: FinancialsRow,
): FinancialStatement {
  return {
    ticker,
    period,
    quarter,
    fiscalYear: r.fiscal_year,
    revenue: Number(r.revenue),
    operatingIncome: Number(r.operating_income),
    netIncome: Number(r.net_income),
    eps: r.eps,
    totalAssets: Number(r.total_assets),
    totalLiabilities: Number(r.total_liabilities),
    operatingCashFlow: Number(r.operating_cash_flow),
    currency: r.currency,
    asOf: r.as_of.toISOString(),
  };
}

/** A news item of `ticker` from its row. */
export function toNewsItem(ticker: string, r: NewsRow): NewsItem {
  return {
    id: r.id,
    ticker,
    category: r.category,
    headline: r.headline,
    summary: r.summary,
    source: r.source,
    publishedAt: r.published_at.toISOString(),
  };
}

/** A trade from its row. */
export function toTrade(r: TradeRow): Trade {
  return {
    tradeId: r.trade_id,
    ticker: r.ticker,
    side: r.side,
    venue: r.venue,
    quantity: r.quantity,
    price: r.price,
    executedAt: r.executed_at.toISOString(),
    tradeDate: r.trade_date,
  };
}

/** A trade event from its row. */
export function toTradeEvent(r: TradeEventRow): TradeEvent {
  return { tradeId: r.trade_id, type: r.type, at: r.at.toISOString(), status: r.status };
}
