import { MarketDataError } from '../../src/market/providers/market-data.errors.js';
import {
  addDays,
  addTradingDays,
  dayOfWeek,
  eachDay,
  exchangeHolidays,
  isTradingDay,
  tradingDayCount,
  tradingDays,
} from '../../src/market/providers/trading-calendar.js';

describe('trading calendar', () => {
  const holidays2024 = [
    '2024-01-01',
    '2024-01-15',
    '2024-02-19',
    '2024-03-29',
    '2024-05-27',
    '2024-06-19',
    '2024-07-04',
    '2024-09-02',
    '2024-11-28',
    '2024-12-25',
  ];

  it.each(holidays2024)('%s (a 2024 NYSE holiday) is not a trading day', (date) => {
    expect(isTradingDay(date)).toBe(false);
  });

  it('knows exactly the ten 2024 holidays and 252 trading days', () => {
    expect(exchangeHolidays(2024)).toEqual(holidays2024);
    expect(tradingDays('2024-01-01', '2024-12-31')).toHaveLength(252);
  });

  it('weekends are not trading days, ordinary weekdays are', () => {
    expect(isTradingDay('2024-06-15')).toBe(false); // Saturday
    expect(isTradingDay('2024-06-16')).toBe(false); // Sunday
    expect(isTradingDay('2024-06-17')).toBe(true);
    expect(dayOfWeek('2024-06-15')).toBe(6);
  });

  it('applies observed-date rules', () => {
    expect(isTradingDay('2022-06-20')).toBe(false); // Juneteenth (Sun) observed Monday
    expect(isTradingDay('2021-06-18')).toBe(true); // before Juneteenth became a market holiday
    expect(isTradingDay('2026-07-03')).toBe(false); // July 4 is a Saturday
    expect(isTradingDay('2022-12-26')).toBe(false); // Christmas (Sun) observed Monday
    expect(isTradingDay('2021-12-31')).toBe(true); // New Year's on Saturday is not observed
    expect(isTradingDay('2023-01-02')).toBe(false); // New Year's (Sun) observed Monday
    expect(isTradingDay('2025-04-18')).toBe(false); // Good Friday from the Easter computus
  });

  it('range helpers are inclusive and work across months and leap days', () => {
    expect(eachDay('2024-02-27', '2024-03-01')).toEqual([
      '2024-02-27',
      '2024-02-28',
      '2024-02-29',
      '2024-03-01',
    ]);
    expect(eachDay('2024-03-02', '2024-03-01')).toEqual([]);
    expect(tradingDays('2024-03-28', '2024-04-01')).toEqual(['2024-03-28', '2024-04-01']);
    expect(addDays('2024-12-31', 1)).toBe('2025-01-01');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
    expect(addTradingDays('2024-07-03', 1)).toBe('2024-07-05');
  });

  it('rejects malformed dates with INVALID_ARGUMENT', () => {
    expect(() => isTradingDay('2024-02-30')).toThrow(MarketDataError);
    expect(() => tradingDays('2024/01/01', '2024-01-31')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('trading-day counting', () => {
  it('tradingDayCount agrees with tradingDays over many ranges', () => {
    const starts = [
      '1999-12-30',
      '2000-01-03',
      '2003-07-05',
      '2011-02-28',
      '2019-12-31',
      '2022-06-17',
      '2024-01-01',
    ];
    for (const from of starts) {
      for (const span of [0, 1, 6, 7, 30, 365, 1000, 3000]) {
        const to = addDays(from, span);
        expect(tradingDayCount(from, to)).toBe(tradingDays(from, to).length);
      }
    }
    expect(tradingDayCount('2024-01-02', '2024-01-01')).toBe(0);
  });

  it('tradingDays matches a day-by-day isTradingDay scan', () => {
    const scan = eachDay('2021-11-15', '2023-02-10').filter(isTradingDay);
    expect(tradingDays('2021-11-15', '2023-02-10')).toEqual(scan);
  });
});
