import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CacheKeyType, CacheResponse, PreparedResponse } from '../cache/index.js';
import { ApiCachedGet } from './api-docs.decorators.js';
import { BarsService } from './bars.service.js';
import { prepared } from './cached-response.js';
import {
  AnalysisResponseDto,
  BarsResponseDto,
  FinancialsResponseDto,
  NewsResponseDto,
  PriceResponseDto,
} from './dto/responses.dto.js';
import {
  AnalysisQueryDto,
  BarsQueryDto,
  FinancialsQueryDto,
  NewsQueryDto,
  NoQueryDto,
  TickerParamDto,
} from './dto/stock-query.dto.js';
import { KnownTickers } from './known-tickers.js';
import { MarketService, resolveStatementKind } from './market.service.js';

/** How the `:ticker` of a cached response's URL names its entity: as the routes read it (trimmed, upper-cased). */
const tickerEntity = (ticker: string): string => ticker.trim().toUpperCase();

/**
 * Longest a bars response is kept whole, in seconds: every distinct range is its own entry, so
 * it lives briefly; its days and months stay in the range cache for their own TTLs.
 */
export const BARS_RESPONSE_TTL_SECONDS = 300;

/**
 * `GET /api/stocks/:ticker/{price,financials,news,analysis,bars}`. Input is validated (the
 * global ValidationPipe, then cross-field checks here) and the ticker checked against the source
 * before anything is cached or fetched. Unknown query parameters are refused (400 naming them),
 * as unknown body properties are.
 */
@ApiTags('stocks')
@Controller('api/stocks')
export class StocksController {
  constructor(
    @Inject(MarketService) private readonly market: MarketService,
    @Inject(BarsService) private readonly bars: BarsService,
    @Inject(KnownTickers) private readonly tickers: KnownTickers,
  ) {}

  /** Latest quote. */
  @Get(':ticker/price')
  @CacheResponse({ keyType: CacheKeyType.STOCK_PRICE, normalizeEntity: tickerEntity })
  @ApiOperation({
    summary: 'Latest quote',
    description: 'Cached with the stock-price TTL (300 s by default).',
  })
  @ApiCachedGet(PriceResponseDto, 'The latest quote')
  async price(
    @Param() params: TickerParamDto,
    @Query() _query: NoQueryDto,
  ): Promise<PreparedResponse> {
    await this.tickers.assertKnown(params.ticker);
    return prepared(await this.market.getPrice(params.ticker));
  }

  /** Latest financial statement of a period/quarter. */
  @Get(':ticker/financials')
  @CacheResponse({ keyType: CacheKeyType.FINANCIAL_DATA, normalizeEntity: tickerEntity })
  @ApiOperation({
    summary: 'Financial statement',
    description:
      'Latest published statement; cached with the financial-data TTL (24 h). quarterly takes Q1-Q4, annual FY.',
  })
  @ApiCachedGet(FinancialsResponseDto, 'The latest statement of the period/quarter')
  async financials(
    @Param() params: TickerParamDto,
    @Query() query: FinancialsQueryDto,
  ): Promise<PreparedResponse> {
    const kind = resolveStatementKind(query.period, query.quarter);
    await this.tickers.assertKnown(params.ticker);
    return prepared(await this.market.getFinancials(params.ticker, kind.period, kind.quarter));
  }

  /** Latest news items of a category. */
  @Get(':ticker/news')
  @CacheResponse({ keyType: CacheKeyType.NEWS_DATA, normalizeEntity: tickerEntity })
  @ApiOperation({
    summary: 'News',
    description: 'Up to 10 items of the category, newest first; cached with the news TTL (1 h).',
  })
  @ApiCachedGet(NewsResponseDto, 'News items')
  async news(
    @Param() params: TickerParamDto,
    @Query() query: NewsQueryDto,
  ): Promise<PreparedResponse> {
    await this.tickers.assertKnown(params.ticker);
    return prepared(await this.market.getNews(params.ticker, query.category ?? 'general'));
  }

  /** Computed analysis. */
  @Get(':ticker/analysis')
  @CacheResponse({ keyType: CacheKeyType.AI_ANALYSIS, normalizeEntity: tickerEntity })
  @ApiOperation({
    summary: 'Computed analysis',
    description:
      'Indicators (SMA, EMA, MACD, RSI, Bollinger, volatility, drawdown, returns) and a rule-based signal over the daily bars of the 1.5 years up to the latest trading day (read through the bars range cache); cached for 6 h.',
  })
  @ApiCachedGet(AnalysisResponseDto, 'The analysis')
  async analysis(
    @Param() params: TickerParamDto,
    @Query() query: AnalysisQueryDto,
  ): Promise<PreparedResponse> {
    await this.tickers.assertKnown(params.ticker);
    return prepared(await this.market.getAnalysis(params.ticker, query.type ?? 'comprehensive'));
  }

  /** Daily bars of a date range. */
  @Get(':ticker/bars')
  @CacheResponse({
    keyType: CacheKeyType.PRICE_BARS,
    normalizeEntity: tickerEntity,
    ttl: BARS_RESPONSE_TTL_SECONDS,
  })
  @ApiOperation({
    summary: 'Daily bars',
    description:
      'Trading days of [from, to] in date order. Cached per (ticker, day), non-trading days as empty markers; only the missing days are fetched from the source (one call per contiguous gap). ' +
      'X-Cache is HIT only when every day came from the cache; a partly cached range answers MISS with X-Cache-Coverage: partial.',
  })
  @ApiCachedGet(BarsResponseDto, 'The bars', true)
  async dailyBars(
    @Param() params: TickerParamDto,
    @Query() query: BarsQueryDto,
  ): Promise<PreparedResponse> {
    this.bars.checkRange(query.from, query.to);
    await this.tickers.assertKnown(params.ticker);
    return await this.market.getBars(params.ticker, query.from, query.to);
  }
}
