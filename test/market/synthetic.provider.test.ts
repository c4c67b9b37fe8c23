import { jest } from '@jest/globals';
import { MarketDataError } from '../../src/market/providers/market-data.errors.js';
import type { Trade } from '../../src/market/providers/market-data.provider.js';
import { clearSyntheticCaches, compareTrades } from '../../src/market/providers/synthetic-data.js';
import { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';
import {
  addTradingDays,
  isTradingDay,
  tradingDays,
} from '../../src/market/providers/trading-calendar.js';

const TODAY = '2024-06-28';

async function collect(it: AsyncIterable<Trade>): Promise<Trade[]> {
  const out: Trade[] = [];
  for await (const t of it) out.push(t);
  return out;
}

describe('SyntheticMarketDataProvider', () => {
  let provider: SyntheticMarketDataProvider;

  beforeEach(() => {
    provider = new SyntheticMarketDataProvider({ today: () => TODAY });
  });

  describe('daily bars', () => {
    it('a day has the same bar whatever range it was asked in, also after the series cache is cleared', async () => {
      const a = await provider.getDailyBars('AAPL', '2024-01-01', '2024-04-30');
      const b = await provider.getDailyBars('AAPL', '2024-03-01', '2024-06-28');
      const byDate = new Map(a.map((bar) => [bar.date, bar]));
      const overlap = b.filter((bar) => byDate.has(bar.date));
      expect(overlap.length).toBeGreaterThan(30);
      for (const bar of overlap) expect(bar).toEqual(byDate.get(bar.date));

      // With the series cache emptied, asking for the later range first gives the same bars.
      clearSyntheticCaches();
      const fresh = await new SyntheticMarketDataProvider({ today: () => TODAY }).getDailyBars(
        'AAPL',
        '2024-03-01',
        '2024-06-28',
      );
      expect(fresh).toEqual(b);
    });

    it('answers trading days only, in date order, bounds inclusive, nothing after today', async () => {
      const bars = await provider.getDailyBars('MSFT', '2024-01-02', '2024-12-31');
      expect(bars.map((b) => b.date)).toEqual(tradingDays('2024-01-02', TODAY));
      expect(bars[0].date).toBe('2024-01-02');
      expect(bars[bars.length - 1].date).toBe(TODAY);
      expect(await provider.getDailyBars('MSFT', '2024-01-01', '2024-01-01')).toEqual([]); // holiday
      expect(await provider.getDailyBars('MSFT', '1999-01-01', '2000-01-04')).toHaveLength(2); // series starts 2000-01-03
    });

    it('bars are sane OHLCV: high ≥ max(open, close), low ≤ min, positive, open near the previous close', async () => {
      const problems: string[] = [];
      for (const ticker of ['AAPL', 'NVDA', '7203', 'KO']) {
        const bars = await provider.getDailyBars(ticker, '2019-06-01', TODAY);
        expect(bars.length).toBeGreaterThan(1250);
        bars.forEach((b, i) => {
          const at = `${ticker} ${b.date}`;
          if (b.high < Math.max(b.open, b.close))
            problems.push(`${at}: high ${b.high} below open/close`);
          if (b.low > Math.min(b.open, b.close))
            problems.push(`${at}: low ${b.low} above open/close`);
          if (!(b.low > 0)) problems.push(`${at}: low ${b.low} not positive`);
          if (!Number.isInteger(b.volume) || b.volume <= 0)
            problems.push(`${at}: volume ${b.volume}`);
          if (i > 0 && Math.abs(b.open / bars[i - 1].close - 1) > 0.1)
            problems.push(`${at}: open ${b.open} far from previous close ${bars[i - 1].close}`);
        });
      }
      expect(problems).toEqual([]);
    });

    // Its speed (cold, five years, one ticker) is measured by `npm run bench` (bench/range.bench.ts), not here.
    it('serves five years of bars for a ticker with an empty series cache, the same as when warm', async () => {
      clearSyntheticCaches();
      const cold = await provider.getDailyBars('ORCL', '2019-06-28', TODAY);
      expect(cold.length).toBeGreaterThan(1250);
      expect(cold[0].date >= '2019-06-28').toBe(true);
      expect(cold.at(-1)?.date).toBe(TODAY);
      expect(await provider.getDailyBars('ORCL', '2019-06-28', TODAY)).toEqual(cold);
    });
  });

  describe('counters and latency', () => {
    it('counts one per call per method and records requested bar ranges until reset', async () => {
      await provider.getDailyBars('AAPL', '2024-01-01', '2024-01-31');
      await provider.getDailyBars('aapl', '2024-02-01', '2024-02-29');
      await provider.getQuote('AAPL');
      await collect(provider.streamTrades({ tickers: ['AAPL'] }, '2024-06-27', '2024-06-28'));
      expect(provider.getCallCounts()).toMatchObject({
        getDailyBars: 2,
        getQuote: 1,
        streamTrades: 1,
        getNews: 0,
      });
      expect(provider.getRequestedBarRanges()).toEqual([
        { ticker: 'AAPL', from: '2024-01-01', to: '2024-01-31' },
        { ticker: 'AAPL', from: '2024-02-01', to: '2024-02-29' },
      ]);
      provider.resetCallCounts();
      expect(Object.values(provider.getCallCounts()).every((n) => n === 0)).toBe(true);
      expect(provider.getRequestedBarRanges()).toEqual([]);
    });

    it('adds latencyMs to every call', async () => {
      jest.useFakeTimers();
      try {
        const slow = new SyntheticMarketDataProvider({ latencyMs: 1000, today: () => TODAY });
        let done = false;
        const pending = slow.getQuote('AAPL').then(() => {
          done = true;
        });
        await jest.advanceTimersByTimeAsync(999);
        expect(done).toBe(false);
        await jest.advanceTimersByTimeAsync(1);
        await pending;
        expect(done).toBe(true);
      } finally {
        jest.useRealTimers();
      }
    });
  });

  describe('tickers and errors', () => {
    it('lists ~30 well-known symbols and knows their currency', async () => {
      const tickers = await provider.listTickers();
      expect(tickers.length).toBeGreaterThanOrEqual(25);
      expect(tickers).toEqual(expect.arrayContaining(['AAPL', 'MSFT', '7203']));
      expect(await provider.hasTicker('msft')).toBe(true);
      expect(await provider.hasTicker('NOPE')).toBe(false);
      expect((await provider.getQuote('7203')).currency).toBe('JPY');
      expect((await provider.getQuote('AAPL')).currency).toBe('USD');
    });

    it('throws MarketDataError UNKNOWN_TICKER for an unknown ticker on every data method', async () => {
      const unknown = expect.objectContaining({ code: 'UNKNOWN_TICKER', name: 'MarketDataError' });
      await expect(provider.getQuote('NOPE')).rejects.toEqual(unknown);
      await expect(
        provider.getDailyBars('NOPE', '2024-01-01', '2024-01-31'),
      ).rejects.toBeInstanceOf(MarketDataError);
      await expect(provider.getFinancials('NOPE', 'quarterly', 'Q1')).rejects.toEqual(unknown);
      await expect(provider.getNews('NOPE', 'general')).rejects.toEqual(unknown);
      await expect(
        collect(provider.streamTrades({ tickers: ['AAPL', 'NOPE'] }, '2024-06-03', '2024-06-04')),
      ).rejects.toEqual(unknown);
    });

    it('rejects a reversed range with INVALID_ARGUMENT naming the field', async () => {
      await expect(provider.getDailyBars('AAPL', '2024-02-01', '2024-01-01')).rejects.toMatchObject(
        { code: 'INVALID_ARGUMENT', message: expect.stringContaining('from') },
      );
    });
  });

  describe('quote, financials, news', () => {
    it('the quote is the latest bar with the change from the previous close', async () => {
      const bars = await provider.getDailyBars('AAPL', '2024-06-20', TODAY);
      const [prev, last] = bars.slice(-2);
      const q = await provider.getQuote('AAPL');
      expect(q).toMatchObject({
        ticker: 'AAPL',
        price: last.close,
        open: last.open,
        high: last.high,
        low: last.low,
        previousClose: prev.close,
        volume: last.volume,
      });
      expect(q.change).toBeCloseTo(last.close - prev.close, 6);
      expect(q.asOf.startsWith(TODAY)).toBe(true);
    });

    it('answers the latest published statement; the annual one sums the quarters', async () => {
      const q1 = await provider.getFinancials('MSFT', 'quarterly', 'Q1');
      expect(q1).toMatchObject({ period: 'quarterly', quarter: 'Q1', fiscalYear: 2024 });
      expect(q1.asOf <= `${TODAY}T23:59:59.999Z`).toBe(true);
      const q3 = await provider.getFinancials('MSFT', 'quarterly', 'Q3');
      expect(q3.fiscalYear).toBe(2023);
      // On 2024-03-01 the latest of every quarter and the full year are all fiscal 2023.
      const march = new SyntheticMarketDataProvider({ today: () => '2024-03-01' });
      const fy = await march.getFinancials('MSFT', 'annual', 'FY');
      const quarters = await Promise.all(
        (['Q1', 'Q2', 'Q3', 'Q4'] as const).map((q) => march.getFinancials('MSFT', 'quarterly', q)),
      );
      expect(fy.fiscalYear).toBe(2023);
      expect(quarters.map((s) => s.fiscalYear)).toEqual([2023, 2023, 2023, 2023]);
      expect(fy.revenue).toBe(quarters.reduce((a, s) => a + s.revenue, 0));
      expect(fy.totalAssets).toBe(quarters[3].totalAssets);
      await expect(provider.getFinancials('MSFT', 'quarterly', 'FY')).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('news: at most 10 items of the category, newest first, deterministic', async () => {
      const news = await provider.getNews('AAPL', 'analyst');
      expect(news.length).toBeGreaterThan(0);
      expect(news.length).toBeLessThanOrEqual(10);
      expect(
        news.every(
          (n) => n.category === 'analyst' && n.ticker === 'AAPL' && n.publishedAt < '2024-06-29',
        ),
      ).toBe(true);
      for (let i = 1; i < news.length; i++)
        expect(news[i - 1].publishedAt >= news[i].publishedAt).toBe(true);
      expect(
        await new SyntheticMarketDataProvider({ today: () => TODAY }).getNews('AAPL', 'analyst'),
      ).toEqual(news);
    });
  });

  describe('trades', () => {
    const small = () =>
      new SyntheticMarketDataProvider({
        today: () => TODAY,
        tickers: ['AAPL', 'MSFT', '7203'],
        tradesPerTickerDay: 12,
      });

    it('streams every trade of the range in (tradeDate, executedAt, tradeId) order', async () => {
      const trades = await collect(small().streamTrades({}, '2024-06-17', '2024-06-30'));
      expect(trades).toHaveLength(tradingDays('2024-06-17', TODAY).length * 3 * 12);
      for (let i = 1; i < trades.length; i++)
        expect(compareTrades(trades[i - 1], trades[i])).toBeLessThan(0);
      expect(new Set(trades.map((t) => t.tradeId)).size).toBe(trades.length);
      expect(
        trades.every((t) => isTradingDay(t.tradeDate) && t.executedAt.startsWith(t.tradeDate)),
      ).toBe(true);
      expect(trades[0].tradeId).toMatch(/^T-(AAPL|MSFT|7203)-20240617-\d+$/);
    });

    it('is deterministic per (ticker, day) and prices sit inside the day’s bar', async () => {
      const p = small();
      const a = await collect(p.streamTrades({ tickers: ['MSFT'] }, '2024-06-10', '2024-06-20'));
      const b = await collect(p.streamTrades({ tickers: ['MSFT'] }, '2024-06-14', '2024-06-28'));
      const overlapA = a.filter((t) => t.tradeDate >= '2024-06-14');
      expect(b.slice(0, overlapA.length)).toEqual(overlapA);
      const bars = new Map(
        (await p.getDailyBars('MSFT', '2024-06-10', '2024-06-20')).map((x) => [x.date, x]),
      );
      for (const t of a) {
        const bar = bars.get(t.tradeDate);
        expect(bar).toBeDefined();
        expect(t.price).toBeGreaterThanOrEqual(bar?.low ?? Infinity);
        expect(t.price).toBeLessThanOrEqual(bar?.high ?? -Infinity);
      }
    });

    it('applies every filter (AND) and keeps the order', async () => {
      const p = small();
      const all = await collect(p.streamTrades({}, '2024-06-03', '2024-06-14'));
      const filters = {
        tickers: ['7203', 'AAPL'],
        side: 'sell' as const,
        venue: 'XNAS',
        minQuantity: 100,
      };
      const filtered = await collect(p.streamTrades(filters, '2024-06-03', '2024-06-14'));
      const expected = all.filter(
        (t) =>
          ['7203', 'AAPL'].includes(t.ticker) &&
          t.side === 'sell' &&
          t.venue === 'XNAS' &&
          t.quantity >= 100,
      );
      expect(filtered.length).toBeGreaterThan(0);
      expect(filtered).toEqual(expected);
    });

    it('events: a confirmation always, a settlement once two trading days have passed', async () => {
      const p = small();
      const old = (
        await collect(p.streamTrades({ tickers: ['AAPL'] }, '2024-06-20', '2024-06-20'))
      )[0];
      const recent = (await collect(p.streamTrades({ tickers: ['AAPL'] }, TODAY, TODAY)))[0];
      const events = await p.getTradeEvents([
        old.tradeId,
        recent.tradeId,
        'T-AAPL-20240628-999',
        'bogus',
      ]);
      expect([...events.keys()].sort()).toEqual([old.tradeId, recent.tradeId].sort());
      const oldTypes = (events.get(old.tradeId) ?? []).map((e) => e.type);
      expect(oldTypes[0]).toBe('confirmation');
      expect(oldTypes).toContain('settlement');
      expect((events.get(recent.tradeId) ?? []).map((e) => e.type)).not.toContain('settlement');
      const settlement = (events.get(old.tradeId) ?? []).find((e) => e.type === 'settlement');
      expect(settlement?.at.slice(0, 10)).toBe(addTradingDays('2024-06-20', 2));
    });
  });
});
