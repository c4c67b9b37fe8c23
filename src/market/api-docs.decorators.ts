import { applyDecorators, type Type } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiResponse,
  ApiServiceUnavailableResponse,
  type HeadersObject,
} from '@nestjs/swagger';

/** Response headers of every route built from cached data. */
export const CACHED_RESPONSE_HEADERS: HeadersObject = {
  'X-Cache': {
    description:
      'HIT (from the cache), MISS (from the source; also a partly cached range), STALE (served stale while refreshing)',
    schema: { type: 'string', enum: ['HIT', 'MISS', 'STALE'] },
  },
  ETag: {
    description: 'Strong ETag of the body; send it back in If-None-Match to get 304',
    schema: { type: 'string' },
  },
  'Cache-Control': {
    description: 'max-age = seconds left of the data TTL',
    schema: { type: 'string', example: 'max-age=300' },
  },
};

/** `X-Cache-Coverage` of range answers (bars, trades). */
export const COVERAGE_HEADER: HeadersObject = {
  'X-Cache-Coverage': {
    description:
      'How much of the range came from the cache: full (X-Cache HIT), partial or none (both X-Cache MISS)',
    schema: { type: 'string', enum: ['full', 'partial', 'none'] },
  },
};

/** OpenAPI of a cached GET route: 200 with the cache headers, 304, 400 (names the field), 404 (unknown ticker), 503/504 (source). */
export function ApiCachedGet(
  type: Type<unknown>,
  description: string,
  range = false,
): MethodDecorator {
  return applyDecorators(
    ApiOkResponse({
      type,
      description,
      headers: range ? { ...CACHED_RESPONSE_HEADERS, ...COVERAGE_HEADER } : CACHED_RESPONSE_HEADERS,
    }),
    ApiResponse({ status: 304, description: 'If-None-Match matched the ETag: no body' }),
    ApiBadRequestResponse({ description: 'Bad input; the body names the field' }),
    ApiNotFoundResponse({ description: 'Unknown ticker' }),
    ApiServiceUnavailableResponse({
      description: 'The market-data source is unavailable (504 when it timed out)',
    }),
  );
}
