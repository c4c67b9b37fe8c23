import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { ANALYSIS_TYPES, type AnalysisType } from '../analysis/analysis.js';
import type {
  FinancialPeriod,
  FiscalQuarter,
  NewsCategory,
} from '../providers/market-data.provider.js';
import {
  IsCalendarDate,
  TICKER_MESSAGE,
  TICKER_PATTERN,
  ToLowerCaseTrimmed,
  ToUpperCaseTrimmed,
} from './validators.js';

/** Financial statement periods. */
export const FINANCIAL_PERIODS: readonly FinancialPeriod[] = ['quarterly', 'annual'];
/** Fiscal quarters (`FY` = the full year, annual statements only). */
export const FISCAL_QUARTERS: readonly FiscalQuarter[] = ['Q1', 'Q2', 'Q3', 'Q4', 'FY'];
/** News categories. */
export const NEWS_CATEGORIES: readonly NewsCategory[] = [
  'earnings',
  'markets',
  'analyst',
  'general',
];

/** `:ticker` path parameter: trimmed, upper-cased, then checked against `TICKER_PATTERN`. */
export class TickerParamDto {
  @ApiProperty({
    description:
      'Ticker symbol, case-insensitive: 1-10 letters, digits, "." or "-", starting with a letter or digit',
    example: 'AAPL',
    pattern: TICKER_PATTERN.source,
  })
  @ToUpperCaseTrimmed()
  @IsString()
  @Matches(TICKER_PATTERN, { message: `ticker ${TICKER_MESSAGE}` })
  ticker!: string;
}

/** Query of a route that takes no query parameters (`/price`): any parameter is refused with 400 naming it. */
export class NoQueryDto {}

/** Query of `/financials`: `period` (default `annual` without a quarter, else `quarterly`) and `quarter` (Q1-Q4 for quarterly, FY for annual). */
export class FinancialsQueryDto {
  @ApiPropertyOptional({
    enum: FINANCIAL_PERIODS,
    description: 'Default: quarterly when a quarter Q1-Q4 is given, else annual',
  })
  @IsOptional()
  @ToLowerCaseTrimmed()
  @IsIn(FINANCIAL_PERIODS, { message: `period must be one of ${FINANCIAL_PERIODS.join(', ')}` })
  period?: FinancialPeriod;

  @ApiPropertyOptional({
    enum: FISCAL_QUARTERS,
    description: 'Q1-Q4 (required with period=quarterly) or FY (annual, the default there)',
  })
  @IsOptional()
  @ToUpperCaseTrimmed()
  @IsIn(FISCAL_QUARTERS, { message: `quarter must be one of ${FISCAL_QUARTERS.join(', ')}` })
  quarter?: FiscalQuarter;
}

/** Query of `/news`: `category`, default `general`. */
export class NewsQueryDto {
  @ApiPropertyOptional({ enum: NEWS_CATEGORIES, default: 'general' })
  @IsOptional()
  @ToLowerCaseTrimmed()
  @IsIn(NEWS_CATEGORIES, { message: `category must be one of ${NEWS_CATEGORIES.join(', ')}` })
  category?: NewsCategory;
}

/** Query of `/analysis`: `type`, default `comprehensive`. */
export class AnalysisQueryDto {
  @ApiPropertyOptional({ enum: ANALYSIS_TYPES, default: 'comprehensive' })
  @IsOptional()
  @ToLowerCaseTrimmed()
  @IsIn(ANALYSIS_TYPES, { message: `type must be one of ${ANALYSIS_TYPES.join(', ')}` })
  type?: AnalysisType;
}

/** Query of `/bars`: both dates required, inclusive; `from ≤ to` and the range length are checked by the controller. */
export class BarsQueryDto {
  @ApiProperty({
    description: 'First day, YYYY-MM-DD (inclusive)',
    example: '2024-01-01',
    format: 'date',
  })
  @IsCalendarDate()
  from!: string;

  @ApiProperty({
    description: 'Last day, YYYY-MM-DD (inclusive); at most MAX_BARS_RANGE_DAYS days after from',
    example: '2024-06-30',
    format: 'date',
  })
  @IsCalendarDate()
  to!: string;
}
