import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import type { TradeSide } from '../providers/market-data.provider.js';
import {
  IsCalendarDate,
  TICKER_MESSAGE,
  TICKER_PATTERN,
  ToUpperCaseTrimmed,
} from './validators.js';

/** Most tickers one trades query may name. */
export const MAX_QUERY_TICKERS = 50;
/** Execution venue format: an ISO 10383 MIC (4 letters or digits), upper-cased. */
export const VENUE_PATTERN = /^[A-Z0-9]{4}$/;

/** Filters of a trades query; every given filter must match. */
export class TradeFiltersDto {
  @ApiProperty({
    type: [String],
    minItems: 1,
    maxItems: MAX_QUERY_TICKERS,
    example: ['AAPL', 'MSFT'],
    description: 'Tickers (case-insensitive; order and duplicates do not matter)',
  })
  @ToUpperCaseTrimmed()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_QUERY_TICKERS)
  @IsString({ each: true })
  @Matches(TICKER_PATTERN, { each: true, message: `each of tickers ${TICKER_MESSAGE}` })
  tickers!: string[];

  @ApiPropertyOptional({ enum: ['buy', 'sell'] })
  @IsOptional()
  @IsIn(['buy', 'sell'], { message: 'side must be buy or sell' })
  side?: TradeSide;

  @ApiPropertyOptional({
    example: 'XNYS',
    description: 'Execution venue (MIC, case-insensitive)',
    pattern: VENUE_PATTERN.source,
  })
  @IsOptional()
  @ToUpperCaseTrimmed()
  @IsString()
  @Matches(VENUE_PATTERN, { message: 'venue must be a 4-character MIC such as XNYS' })
  venue?: string;

  @ApiPropertyOptional({
    minimum: 0,
    example: 100,
    description: 'Only trades of at least this many shares (0 and 1 mean no filter)',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  minQuantity?: number;
}

/** Body of `POST /api/trades/query`; unknown properties (here or in `filters`) are refused with 400 naming them. */
export class TradesQueryDto {
  @ApiProperty({ type: TradeFiltersDto })
  @IsDefined()
  @IsObject({ message: 'filters must be an object such as { "tickers": ["AAPL"] }' })
  @ValidateNested()
  @Type(() => TradeFiltersDto)
  filters!: TradeFiltersDto;

  @ApiProperty({
    example: '2024-06-03',
    format: 'date',
    description: 'First trade date, YYYY-MM-DD (inclusive)',
  })
  @IsCalendarDate()
  from!: string;

  @ApiProperty({
    example: '2024-06-28',
    format: 'date',
    description:
      'Last trade date, YYYY-MM-DD (inclusive); at most MAX_TRADES_RANGE_DAYS days after from',
  })
  @IsCalendarDate()
  to!: string;

  @ApiPropertyOptional({
    default: false,
    description:
      "Attach each trade's post-trade events (`events: [...]`), read fresh from the source",
  })
  @IsOptional()
  @IsBoolean()
  includeEvents?: boolean;
}
