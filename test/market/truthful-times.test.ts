/**
 * Times the sources and the analysis state are never later than the moment they speak of: a
 * quote taken before the day's close is stamped with the time it was taken, and an analysis
 * whose last bar is a day still open never calls that day closed.
 */
import { jest } from '@jest/globals';
import { computeAnalysis } from '../../src/market/analysis/analysis.js';
import { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';
import { REAL_EXCEPT_DATE } from '../support/fake-time.js';

/** A Friday, a trading day. */
const DAY = '2024-06-14';

afterEach(() => {
  jest.useRealTimers();
});

describe('truthful times', () => {
  it('stamps a quote taken before the close with the time it was taken (asOf <= now)', async () => {
    jest.useFakeTimers({ doNotFake: [...REAL_EXCEPT_DATE] });
    jest.setSystemTime(new Date(`${DAY}T02:31:00.000Z`));
    const provider = new SyntheticMarketDataProvider({ today: () => DAY });
    const quote = await provider.getQuote('AAPL');
    expect(Date.parse(quote.asOf)).toBeLessThanOrEqual(Date.now());
    expect(quote.asOf).toBe(`${DAY}T02:31:00.000Z`);

    // After the close the stamp is the close itself.
    jest.setSystemTime(new Date(`${DAY}T23:00:00.000Z`));
    expect((await provider.getQuote('AAPL')).asOf).toBe(`${DAY}T21:00:00.000Z`);
  });

  it('never calls a day whose session is still open closed', async () => {
    const provider = new SyntheticMarketDataProvider({ today: () => DAY });
    const bars = await provider.getDailyBars('AAPL', '2023-01-02', DAY);
    expect(bars[bars.length - 1].date).toBe(DAY);
    const open = computeAnalysis('AAPL', bars, 'comprehensive', Date.parse(`${DAY}T15:00:00Z`));
    expect(open.summary).not.toMatch(/closed at/);
    expect(open.summary).toMatch(
      new RegExp(`traded at [^ ]+ on ${DAY} \\(the session is still open\\)`),
    );
    const closed = computeAnalysis('AAPL', bars, 'comprehensive', Date.parse(`${DAY}T21:00:00Z`));
    expect(closed.summary).toMatch(new RegExp(`closed at [^ ]+ on ${DAY}\\.`));
  });
});
