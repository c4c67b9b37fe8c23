/** Synthetic financial statements: quarterly figures per (ticker, fiscal year), FY as their sum. */
import type {
  FinancialPeriod,
  FinancialStatement,
  FiscalQuarter,
} from '../market-data.provider.js';
import { addDays, fromDayNumber } from '../trading-calendar.js';
import { hashString, mulberry32, round } from './seeded-random.js';
import { tickerProfile } from './ticker-profiles.js';

const { exp, round: mathRound } = Math;

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
