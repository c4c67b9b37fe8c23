import {
  Body,
  Controller,
  HttpCode,
  Inject,
  Logger,
  Post,
  Res,
  ServiceUnavailableException,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiExtraModels,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import { COVERAGE_HEADER } from './api-docs.decorators.js';
import { coverageOf } from './cached-response.js';
import { TradeEventDto, TradeLineDto, TradesMetaLineDto } from './dto/responses.dto.js';
import { TradesQueryDto } from './dto/trades-query.dto.js';
import { KnownTickers } from './known-tickers.js';
import { StreamGate, writeChunked } from './ndjson-writer.js';
import { TradesService, normalizeTradeFilters } from './trades.service.js';

/** NDJSON media type of the trades answer. */
export const NDJSON = 'application/x-ndjson';

/** `POST /api/trades/query`: trades for filters and a date range, streamed as NDJSON, delta-fetched per query signature. */
@ApiTags('trades')
@ApiExtraModels(TradesMetaLineDto, TradeLineDto, TradeEventDto)
@Controller('api/trades')
export class TradesController {
  private readonly log = new Logger(TradesController.name);

  constructor(
    @Inject(TradesService) private readonly trades: TradesService,
    @Inject(KnownTickers) private readonly tickers: KnownTickers,
    @Inject(StreamGate) private readonly gate: StreamGate,
  ) {}

  /** Streams the query's trades as NDJSON: a meta line, then one trade per line in (tradeDate, executedAt, tradeId) order. */
  @Post('query')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Query trades (NDJSON stream)',
    description:
      'The query signature is sha256 (hex, 20 chars) of the normalized filters without the dates (tickers upper-cased, sorted, deduplicated). ' +
      'Coverage is kept per (signature, day); only missing days are fetched, one source stream per contiguous gap. ' +
      'The body is NDJSON: a first meta line { signature, cached: true | false | "partial", fetched: [[from, to], ...], asOf }, then one trade per line ' +
      '(with events: [...] when includeEvents is true), written about 1000 lines at a time. X-Cache: HIT when every day came from the cache, else MISS; X-Cache-Coverage: full | partial | none. ' +
      "Days after the last day the source holds trades for the tickers are not known yet: neither fetched nor cached, and the answer says so (X-Data-Through and the meta line's dataThrough). " +
      'Streams share the event loop (each yields after a few ms of work) and at most MAX_CONCURRENT_STREAMS run per instance; past it 503 with Retry-After.',
  })
  @ApiBody({ type: TradesQueryDto })
  @ApiProduces(NDJSON)
  @ApiOkResponse({
    description: 'NDJSON: line 1 is a TradesMetaLine, every other line a TradeLine',
    headers: {
      ...COVERAGE_HEADER,
      'X-Cache': {
        description: 'HIT when every day came from the cache, else MISS',
        schema: { type: 'string', enum: ['HIT', 'MISS'] },
      },
      'X-Data-Through': {
        description:
          'Present when the range goes past the last day the source holds trades for the tickers: that day (YYYY-MM-DD). Later days are not known yet (not loaded): they were neither read nor cached; they show up at most dataThroughCacheMs (60 s by default) after they are loaded.',
        schema: { type: 'string', format: 'date' },
      },
    },
    content: {
      [NDJSON]: {
        schema: {
          oneOf: [
            { $ref: getSchemaPath(TradesMetaLineDto) },
            { $ref: getSchemaPath(TradeLineDto) },
          ],
        },
        example:
          '{"signature":"3f1c2a9b0d4e5f6a7b8c","cached":"partial","fetched":[["2024-07-01","2024-07-31"]],"asOf":"2024-08-01T09:00:00.000Z"}\n{"tradeId":"T-AAPL-20240603-1","ticker":"AAPL","side":"buy","venue":"XNYS","quantity":100,"price":192.1,"executedAt":"2024-06-03T13:30:01.000Z","tradeDate":"2024-06-03"}\n',
      },
    },
  })
  @ApiBadRequestResponse({
    description:
      'Bad input (from > to, range too long, bad ticker, unknown field); the body names the field',
  })
  @ApiNotFoundResponse({ description: 'A ticker of the filters is unknown' })
  @ApiServiceUnavailableResponse({
    description:
      'The source failed before the stream started (504 when it timed out), or MAX_CONCURRENT_STREAMS streams already run on this instance (with Retry-After)',
  })
  async query(@Body() body: TradesQueryDto, @Res() res: ServerResponse): Promise<void> {
    this.trades.checkRange(body.from, body.to);
    await this.tickers.assertKnown(...normalizeTradeFilters(body.filters).tickers);
    const release = this.gate.tryEnter();
    if (!release) {
      res.setHeader('Retry-After', String(this.gate.retryAfterSeconds));
      throw new ServiceUnavailableException(
        `${this.gate.maxConcurrent} trades streams already run on this instance (MAX_CONCURRENT_STREAMS); retry in ${this.gate.retryAfterSeconds} s`,
      );
    }
    try {
      const answer = await this.trades.open(body);
      await writeChunked(
        res,
        answer.chunks(),
        {
          'Content-Type': `${NDJSON}; charset=utf-8`,
          'X-Cache': answer.status === 'hit' ? 'HIT' : 'MISS',
          'X-Cache-Coverage': coverageOf(answer.status),
          'Cache-Control': 'no-store',
          ...(answer.dataThrough ? { 'X-Data-Through': answer.dataThrough } : {}),
        },
        this.log,
        this.gate.budget,
      );
    } finally {
      release();
    }
  }
}
