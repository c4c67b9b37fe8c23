import {
  Catch,
  HttpException,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import {
  AdminKeyError,
  CacheError,
  CacheValidationError,
  FactoryError,
  FactoryTimeoutError,
  QuotaExceededError,
  RateLimitedLogger,
  budgetErrorOf,
  errorSummary,
} from './cache/index.js';
import {
  MarketDataError,
  type MarketDataErrorCode,
} from './market/providers/market-data.errors.js';

/** Why a request body was refused before validation. */
export type RequestBodyErrorCode =
  | 'BODY_TOO_LARGE'
  | 'BODY_TOO_DEEP'
  | 'BODY_NOT_JSON'
  | 'BODY_UNSUPPORTED_ENCODING'
  | 'BODY_UNREADABLE';

/** A request body refused before validation (too large, nested too deep, not JSON, ...): 4xx naming the field `body`. */
export class RequestBodyError extends Error {
  /** The refused input: always the request body. */
  readonly field = 'body';

  constructor(
    readonly status: 400 | 413 | 415,
    readonly code: RequestBodyErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RequestBodyError';
  }
}

/**
 * The `RequestBodyError` of an error raised while a body was read and parsed (body-parser and
 * raw-body errors carry a `type` such as `entity.too.large` and a 4xx `status`), else undefined.
 */
export function requestBodyErrorOf(error: unknown): RequestBodyError | undefined {
  if (error instanceof RequestBodyError) return error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { type, status, limit } = error as { type?: unknown; status?: unknown; limit?: unknown };
  if (typeof type !== 'string' || typeof status !== 'number' || status < 400 || status >= 500)
    return undefined;
  switch (type) {
    case 'entity.parse.failed':
      return new RequestBodyError(400, 'BODY_NOT_JSON', 'body is not valid JSON');
    case 'entity.too.large':
      return new RequestBodyError(
        413,
        'BODY_TOO_LARGE',
        typeof limit === 'number'
          ? `body is larger than the limit of ${limit} bytes`
          : 'body is too large',
      );
    case 'parameters.too.many':
      return new RequestBodyError(413, 'BODY_TOO_LARGE', 'body has too many parameters');
    case 'charset.unsupported':
      return new RequestBodyError(415, 'BODY_UNSUPPORTED_ENCODING', 'body must be UTF-8');
    case 'encoding.unsupported':
      return new RequestBodyError(
        415,
        'BODY_UNSUPPORTED_ENCODING',
        'Content-Encoding must be identity, gzip, deflate or br',
      );
    default:
      return new RequestBodyError(400, 'BODY_UNREADABLE', 'body could not be read');
  }
}

/** An error as the client sees it: status, JSON body, extra headers. */
export interface HttpErrorReply {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const MARKET_STATUS: Record<MarketDataErrorCode, number> = {
  UNKNOWN_TICKER: 404,
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  SOURCE_UNAVAILABLE: 503,
  SOURCE_TIMEOUT: 504,
};

/** Messages for server-side failures: generic, so nothing internal (hosts, queries, payloads) reaches a client. */
const GENERIC_MESSAGE: Record<number, string> = {
  500: 'Internal server error',
  503: 'The data source is unavailable; try again later',
  504: 'The data source did not answer in time',
};

/**
 * Maps an error to its HTTP reply:
 * a body refused while read or parsed (`requestBodyErrorOf`, also as the cause of the
 * `HttpException` Nest wraps it in) → 400, 413 or 415 with `field: 'body'` and a `code`;
 * `HttpException` as it is; `CacheValidationError` → 400 with `field`; `QuotaExceededError` →
 * 429 with `Retry-After`; `AdminKeyError` → 401; `FactoryTimeoutError` → 504; `FactoryError` →
 * its cause's mapping when the cause is a domain / HTTP / validation error, else 503;
 * `MarketDataError` by code (UNKNOWN_TICKER / NOT_FOUND 404, INVALID_ARGUMENT 400 with `field`,
 * SOURCE_UNAVAILABLE 503, SOURCE_TIMEOUT 504); anything else 500 with a generic message.
 */
export function toHttpError(error: unknown): HttpErrorReply {
  // Nest wraps body-parser errors in an `HttpException` whose cause is the original error.
  const bodyError =
    requestBodyErrorOf(error) ??
    (error instanceof HttpException ? requestBodyErrorOf(error.cause) : undefined);
  if (bodyError)
    return {
      status: bodyError.status,
      body: { ...reply(bodyError.status, bodyError.message), field: 'body', code: bodyError.code },
    };
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    return {
      status,
      body:
        typeof response === 'object' && response !== null
          ? (response as Record<string, unknown>)
          : reply(status, String(response)),
    };
  }
  if (error instanceof CacheValidationError)
    return { status: 400, body: { ...reply(400, error.message), field: error.field } };
  // The source's call budget is spent and nothing stale could stand in: 503, never the vendor's 429.
  const budget = budgetErrorOf(error);
  if (budget)
    return {
      status: 503,
      body: { ...reply(503), code: budget.code },
      headers: { 'Retry-After': String(budget.retryAfterSeconds) },
    };
  if (error instanceof QuotaExceededError)
    return {
      status: 429,
      body: reply(429, error.message),
      headers: { 'Retry-After': String(error.retryAfterSeconds) },
    };
  if (error instanceof AdminKeyError)
    return {
      status: 401,
      body: reply(401, error.message),
      headers: { 'WWW-Authenticate': 'Bearer realm="admin"' },
    };
  if (error instanceof FactoryTimeoutError) return { status: 504, body: reply(504) };
  if (error instanceof FactoryError) {
    const cause = error.cause;
    if (
      cause instanceof MarketDataError ||
      cause instanceof HttpException ||
      cause instanceof CacheError
    )
      return toHttpError(cause);
    return { status: 503, body: reply(503) };
  }
  if (error instanceof MarketDataError) {
    const status = MARKET_STATUS[error.code] ?? 500;
    if (status >= 500) return { status, body: reply(status) };
    const field = fieldOf(error);
    return {
      status,
      body:
        field === undefined
          ? reply(status, error.message)
          : { ...reply(status, error.message), field },
    };
  }
  if (error instanceof CacheError && error.code === 'CACHE_STORE_UNAVAILABLE')
    return { status: 503, body: reply(503) };
  return { status: 500, body: reply(500) };
}

/**
 * The app's global exception filter (see `toHttpError`). Server errors other than deliberate
 * `HttpException`s (readiness 503, say) are logged, rate-limited per status and error name, as
 * the route pattern, the error's name, code and message: no stack, no payload, no query string.
 * Client errors are not logged.
 */
@Catch()
export class AppExceptionFilter implements ExceptionFilter {
  private readonly log = new RateLimitedLogger(new Logger('HttpExceptionFilter'));

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<{
      headersSent: boolean;
      setHeader(n: string, v: string): unknown;
      status(code: number): { json(body: unknown): unknown };
      end(): unknown;
    }>();
    const req = ctx.getRequest<{ method?: string; route?: { path?: string } }>();
    const mapped = toHttpError(exception);
    if (mapped.status >= 500 && !(exception instanceof HttpException)) {
      const name = exception instanceof Error ? exception.name : typeof exception;
      this.log.warn(
        `${mapped.status}:${name}`,
        `${req.method ?? '?'} ${req.route?.path ?? '(no route)'} → ${mapped.status}: ${errorSummary(exception).slice(0, 300)}`,
      );
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [name, value] of Object.entries(mapped.headers ?? {})) res.setHeader(name, value);
    res.status(mapped.status).json(mapped.body);
  }
}

function reply(status: number, message?: string): Record<string, unknown> {
  return {
    statusCode: status,
    error: STATUS_CODES[status] ?? 'Error',
    message: message ?? GENERIC_MESSAGE[status] ?? STATUS_CODES[status] ?? 'Error',
  };
}

/** The field a `MarketDataError` names: its `field` property, else the `field: ` prefix `invalidArgument` writes. */
function fieldOf(error: MarketDataError): string | undefined {
  const own = (error as { field?: unknown }).field;
  if (typeof own === 'string' && own.length > 0) return own;
  if (error.code !== 'INVALID_ARGUMENT') return undefined;
  const m = /^([A-Za-z_][\w.[\]]*): /.exec(error.message);
  return m ? m[1] : undefined;
}
