/** Trades streamed from PostgreSQL by keyset pages, and the merge of per-ticker page streams. */
import type { QueryResultRow } from 'pg';
import type { Trade, TradeFilters } from '../market-data.provider.js';
import { compareTrades } from '../synthetic-data.js';
import { TRADE_COLUMNS, toTrade, type TradeRow } from './postgres-queries.js';

/** The provider's one guarded query path. */
export type QueryRows = <R extends QueryResultRow>(sql: string, params?: unknown[]) => Promise<R[]>;

/**
 * One ticker's trades of `[from, to]` (all tickers' when `ticker` is undefined) matching the
 * filters, in (trade_date, executed_at, trade_id) order, read by keyset pages of `pageSize` rows.
 */
export async function* pageTrades(
  query: QueryRows,
  pageSize: number,
  ticker: string | undefined,
  filters: TradeFilters,
  from: string,
  to: string,
): AsyncGenerator<Trade> {
  // 1. The WHERE clause and its parameters, then the first-page and next-page statements.
  const where = ['trade_date BETWEEN $1::date AND $2::date'];
  const params: unknown[] = [from, to];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (ticker !== undefined) add('ticker = ?', ticker);
  if (filters.side !== undefined) add('side = ?', filters.side);
  if (filters.venue !== undefined) add('venue = ?', filters.venue);
  if (filters.minQuantity !== undefined) add('quantity >= ?', filters.minQuantity);
  const base = where.join(' AND ');
  const n = params.length;
  const firstPage = `SELECT ${TRADE_COLUMNS} FROM trades WHERE ${base} ORDER BY trade_date, executed_at, trade_id LIMIT ${pageSize}`;
  const nextPage = `SELECT ${TRADE_COLUMNS} FROM trades WHERE ${base}
        AND (trade_date, executed_at, trade_id) > ($${n + 1}::date, $${n + 2}::timestamptz, $${n + 3}::text)
      ORDER BY trade_date, executed_at, trade_id LIMIT ${pageSize}`;
  // 2. Pages after the last trade read, until a short page.
  let after: Trade | undefined;
  for (;;) {
    const rows = after
      ? await query<TradeRow>(nextPage, [
          ...params,
          after.tradeDate,
          after.executedAt,
          after.tradeId,
        ])
      : await query<TradeRow>(firstPage, params);
    for (const r of rows) {
      after = toTrade(r);
      yield after;
    }
    if (rows.length < pageSize) return;
  }
}

/** Merges iterators that each yield trades in `compareTrades` order into one ordered stream. */
export async function* mergeOrdered(sources: AsyncIterator<Trade>[]): AsyncGenerator<Trade> {
  const heads: Array<Trade | undefined> = await Promise.all(
    sources.map(async (s) => (await s.next()).value as Trade | undefined),
  );
  try {
    for (;;) {
      let min = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h !== undefined && (min < 0 || compareTrades(h, heads[min] as Trade) < 0)) min = i;
      }
      if (min < 0) return;
      yield heads[min] as Trade;
      const next = await sources[min].next();
      heads[min] = next.done ? undefined : next.value;
    }
  } finally {
    await Promise.all(sources.map((s) => s.return?.()));
  }
}
