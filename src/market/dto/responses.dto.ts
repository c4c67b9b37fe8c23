/** Response shapes of the market routes, as OpenAPI schemas (the services build plain objects of these shapes). */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ANALYSIS_TYPES } from '../analysis/analysis.js';
import { FINANCIAL_PERIODS, FISCAL_QUARTERS, NEWS_CATEGORIES } from './stock-query.dto.js';

const AS_OF =
  'When the source produced the data (ISO time): the time it was fetched into the cache';

/** Latest quote; prices in `currency` units. */
export class QuoteDto {
  @ApiProperty({ example: 'AAPL' }) ticker!: string;
  @ApiProperty({ description: 'Last price (close of the latest trading day)' }) price!: number;
  @ApiProperty() open!: number;
  @ApiProperty() high!: number;
  @ApiProperty() low!: number;
  @ApiProperty() previousClose!: number;
  @ApiProperty({ description: 'price - previousClose' }) change!: number;
  @ApiProperty({ description: 'Percent, 2 decimals' }) changePercent!: number;
  @ApiProperty({ description: 'Shares' }) volume!: number;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({ description: 'Market time of the quote (ISO)' }) asOf!: string;
}

/** `GET /api/stocks/:ticker/price`. */
export class PriceResponseDto {
  @ApiProperty({ example: 'AAPL' }) ticker!: string;
  @ApiProperty({ description: AS_OF, format: 'date-time' }) asOf!: string;
  @ApiProperty({ type: QuoteDto }) quote!: QuoteDto;
}

/** One financial statement; money in `currency` units. */
export class FinancialStatementDto {
  @ApiProperty() ticker!: string;
  @ApiProperty({ enum: FINANCIAL_PERIODS }) period!: string;
  @ApiProperty({ enum: FISCAL_QUARTERS }) quarter!: string;
  @ApiProperty() fiscalYear!: number;
  @ApiProperty() revenue!: number;
  @ApiProperty() operatingIncome!: number;
  @ApiProperty() netIncome!: number;
  @ApiProperty({ description: 'Per share' }) eps!: number;
  @ApiProperty() totalAssets!: number;
  @ApiProperty() totalLiabilities!: number;
  @ApiProperty() operatingCashFlow!: number;
  @ApiProperty() currency!: string;
  @ApiProperty({ description: 'Publication time (ISO)' }) asOf!: string;
}

/** `GET /api/stocks/:ticker/financials`. */
export class FinancialsResponseDto {
  @ApiProperty() ticker!: string;
  @ApiProperty({ enum: FINANCIAL_PERIODS }) period!: string;
  @ApiProperty({ enum: FISCAL_QUARTERS }) quarter!: string;
  @ApiProperty({ description: AS_OF, format: 'date-time' }) asOf!: string;
  @ApiProperty({ type: FinancialStatementDto }) statement!: FinancialStatementDto;
}

/** One news item. */
export class NewsItemDto {
  @ApiProperty() id!: string;
  @ApiProperty() ticker!: string;
  @ApiProperty({ enum: NEWS_CATEGORIES }) category!: string;
  @ApiProperty() headline!: string;
  @ApiProperty() summary!: string;
  @ApiProperty({ description: 'Publisher' }) source!: string;
  @ApiProperty({ format: 'date-time' }) publishedAt!: string;
}

/** `GET /api/stocks/:ticker/news`. */
export class NewsResponseDto {
  @ApiProperty() ticker!: string;
  @ApiProperty({ enum: NEWS_CATEGORIES }) category!: string;
  @ApiProperty({ description: AS_OF, format: 'date-time' }) asOf!: string;
  @ApiProperty({ type: [NewsItemDto], description: 'At most 10, newest first' })
  items!: NewsItemDto[];
}

/** Output of `computeAnalysis`. */
export class StockAnalysisDto {
  @ApiProperty() ticker!: string;
  @ApiProperty({ enum: ANALYSIS_TYPES }) type!: string;
  @ApiProperty({ nullable: true, type: String, description: 'Date of the latest bar used' })
  asOfDate!: string | null;
  @ApiProperty() barCount!: number;
  @ApiProperty({ nullable: true, type: Number }) lastClose!: number | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description:
      'sma20, sma50, sma200, ema12, ema26, macd {macd, signal, histogram}, rsi14, bollinger {middle, upper, lower}, annualizedVolatility, maxDrawdown, high52w, low52w, return1m, return3m, return1y (null when too few bars; fractions as 0.1 = 10 %)',
  })
  indicators!: Record<string, unknown>;
  @ApiProperty({ enum: ['buy', 'sell', 'hold'] }) signal!: string;
  @ApiProperty({ description: 'Sum of rule votes; ≥ 2 buy, ≤ -2 sell' }) score!: number;
  @ApiProperty({ type: [String] }) reasons!: string[];
  @ApiProperty() summary!: string;
}

/** `GET /api/stocks/:ticker/analysis`. */
export class AnalysisResponseDto {
  @ApiProperty() ticker!: string;
  @ApiProperty({ enum: ANALYSIS_TYPES }) type!: string;
  @ApiProperty({
    format: 'date',
    description: 'First day of the bars analysed (1.5 years before `to`)',
  })
  from!: string;
  @ApiProperty({
    format: 'date',
    description: 'Latest trading day on or before today (UTC) when computed',
  })
  to!: string;
  @ApiProperty({ description: 'When the analysis was computed (ISO)', format: 'date-time' })
  asOf!: string;
  @ApiProperty({ type: StockAnalysisDto }) analysis!: StockAnalysisDto;
}

/** One daily OHLCV bar. */
export class DailyBarDto {
  @ApiProperty({ format: 'date', example: '2024-06-28' }) date!: string;
  @ApiProperty() open!: number;
  @ApiProperty() high!: number;
  @ApiProperty() low!: number;
  @ApiProperty() close!: number;
  @ApiProperty({ description: 'Shares' }) volume!: number;
}

/** `GET /api/stocks/:ticker/bars`. */
export class BarsResponseDto {
  @ApiProperty() ticker!: string;
  @ApiProperty({ format: 'date' }) from!: string;
  @ApiProperty({ format: 'date' }) to!: string;
  @ApiProperty({
    description: 'When the source produced the oldest day of the answer (ISO)',
    format: 'date-time',
  })
  asOf!: string;
  @ApiProperty({ type: [DailyBarDto], description: 'Trading days only, in date order' })
  bars!: DailyBarDto[];
}

/** First line of the trades NDJSON stream. */
export class TradesMetaLineDto {
  @ApiProperty({
    description: 'sha256 (hex, first 20 chars) of the normalized filters, without the dates',
    example: '3f1c2a9b0d4e5f6a7b8c',
  })
  signature!: string;
  @ApiProperty({
    oneOf: [{ type: 'boolean' }, { type: 'string', enum: ['partial'] }],
    description: 'true: every day from the cache; false: none; "partial": some',
  })
  cached!: boolean | 'partial';
  @ApiProperty({
    type: 'array',
    items: { type: 'array', items: { type: 'string', format: 'date' }, minItems: 2, maxItems: 2 },
    description: 'Contiguous [from, to] ranges fetched from the source for this answer',
    example: [['2024-07-01', '2024-07-31']],
  })
  fetched!: Array<[string, string]>;
  @ApiProperty({
    description: 'When the source produced the oldest day served (ISO)',
    format: 'date-time',
  })
  asOf!: string;
  @ApiPropertyOptional({
    format: 'date',
    description:
      'Present when the range goes past the last day the source holds trades for the tickers: that day. Later days are not known yet, so they were neither read nor cached',
    example: '2024-07-31',
  })
  dataThrough?: string;
}

/** A post-trade event. */
export class TradeEventDto {
  @ApiProperty() tradeId!: string;
  @ApiProperty({ enum: ['confirmation', 'settlement', 'amendment'] }) type!: string;
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty({ example: 'confirmed' }) status!: string;
}

/** Every line after the first of the trades NDJSON stream. */
export class TradeLineDto {
  @ApiProperty({ example: 'T-AAPL-20240603-1' }) tradeId!: string;
  @ApiProperty() ticker!: string;
  @ApiProperty({ enum: ['buy', 'sell'] }) side!: string;
  @ApiProperty({ example: 'XNYS' }) venue!: string;
  @ApiProperty({ description: 'Shares' }) quantity!: number;
  @ApiProperty() price!: number;
  @ApiProperty({ format: 'date-time' }) executedAt!: string;
  @ApiProperty({ format: 'date' }) tradeDate!: string;
  @ApiPropertyOptional({ type: [TradeEventDto], description: 'Only with includeEvents: true' })
  events?: TradeEventDto[];
}
