import {
  BadRequestException,
  ValidationPipe,
  type ArgumentMetadata,
  type INestApplication,
  type ValidationError,
} from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { EDGE_CONFIG_DEFAULTS, type EdgeConfig } from '../config/edge-config.js';
import { AppExceptionFilter, RequestBodyError } from './http-exception.filter.js';

/** The first failed constraint of a validation, with the dotted path of its field (`filters.tickers`). */
export function firstValidationFailure(
  errors: readonly ValidationError[],
  parent = '',
): { field: string; message: string } | undefined {
  for (const e of errors) {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const constraint = e.constraints ? Object.values(e.constraints)[0] : undefined;
    if (constraint !== undefined) {
      const message = constraint.startsWith(`${e.property} `)
        ? field + constraint.slice(e.property.length)
        : `${field}: ${constraint}`;
      return { field, message };
    }
    const nested = firstValidationFailure(e.children ?? [], field);
    if (nested) return nested;
  }
  return undefined;
}

/** Keys no DTO has and no transformer may copy: refused wherever they appear in a body or query. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The dotted path of the first reserved key (`__proto__`, `constructor`, `prototype`) in a parsed body, else undefined. No recursion. */
export function reservedKeyPath(value: unknown): string | undefined {
  const nodes: unknown[] = [value];
  const paths: string[] = [''];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const path = paths.pop() as string;
    if (typeof node !== 'object' || node === null) continue;
    for (const key of Object.keys(node)) {
      const field = path ? `${path}.${key}` : key;
      if (RESERVED_KEYS.has(key)) return field;
      nodes.push((node as Record<string, unknown>)[key]);
      paths.push(field);
    }
  }
  return undefined;
}

function badRequest(field: string, message: string): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message, field });
}

/** Parameter types that are not DTO classes. */
const PLAIN_TYPES = new Set<unknown>([Object, Array, String, Number, Boolean]);

/**
 * `ValidationPipe` that first refuses what class-transformer would silently drop: a body that is
 * not a JSON object (an array, a bare value, none at all) where a DTO is expected, and reserved
 * keys (`__proto__`, `constructor`, `prototype`) anywhere in a body or query.
 */
class AppValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const dto = typeof metadata.metatype === 'function' && !PLAIN_TYPES.has(metadata.metatype);
    if (metadata.type === 'body' && dto && !isPlainObject(value))
      throw badRequest('body', 'body must be a JSON object');
    if (metadata.type === 'body' || metadata.type === 'query') {
      const field = reservedKeyPath(value);
      if (field !== undefined) throw badRequest(field, `property ${field} should not exist`);
    }
    return super.transform(value, metadata);
  }
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The app's validation pipe: whitelist, forbid unknown properties (body and query alike: unknown
 * fields are refused, never ignored), transform; 400 naming the first bad field (`field`).
 */
export function createValidationPipe(): ValidationPipe {
  return new AppValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => {
      const first = firstValidationFailure(errors) ?? { field: 'body', message: 'invalid input' };
      return new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: first.message,
        field: first.field,
      });
    },
  });
}

/**
 * True when JSON text nests objects and arrays deeper than `maxDepth`. One pass over the raw
 * UTF-8 bytes, brackets inside strings skipped; it stops at the first level too deep, so a
 * hostile body costs O(maxDepth) here and is never parsed. Malformed text is left to the parser.
 */
export function jsonNestsDeeperThan(bytes: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next byte is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** Refuses a JSON body before it is parsed: not UTF-8 (415), or nested deeper than `maxDepth` (400). */
function checkJsonBody(maxDepth: number) {
  return (_req: IncomingMessage, _res: ServerResponse, bytes: Buffer, encoding: string): void => {
    if (encoding !== 'utf-8' && encoding !== 'utf8')
      throw new RequestBodyError(415, 'BODY_UNSUPPORTED_ENCODING', 'body must be UTF-8');
    if (jsonNestsDeeperThan(bytes, maxDepth))
      throw new RequestBodyError(
        400,
        'BODY_TOO_DEEP',
        `body nests objects and arrays deeper than the limit of ${maxDepth} levels`,
      );
  };
}

/**
 * The body parsers (Express): JSON of at most `bodyLimitBytes` bytes and `jsonMaxDepth` levels
 * (checked on the raw bytes before parsing) and flat URL-encoded forms of the same size; Nest's
 * own parsers are then not added. Their errors (too large, too deep, not JSON, bad charset) reach
 * the exception filter (`requestBodyErrorOf`): 400 / 413 / 415 JSON naming the field `body`.
 */
function setupBodyParsers(app: INestApplication, limits: EdgeConfig): void {
  if (app.getHttpAdapter().getType() !== 'express') return;
  const express = app as NestExpressApplication;
  // `verify` is left out of Nest's option types because `rawBody: true` replaces it; this app
  // never sets `rawBody`, so the depth check runs before every JSON parse.
  const jsonOptions = { limit: limits.bodyLimitBytes, verify: checkJsonBody(limits.jsonMaxDepth) };
  express.useBodyParser('json', jsonOptions as Parameters<typeof express.useBodyParser<'json'>>[1]);
  express.useBodyParser('urlencoded', { limit: limits.bodyLimitBytes, extended: false });
}

/**
 * Header and request timeouts of the HTTP server (a client trickling its headers or body is
 * answered 408 and dropped), checked every `timeoutCheckIntervalMs`. Call before `listen`.
 */
export function applyServerTimeouts(server: Server, limits: EdgeConfig): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  // Read when the server starts listening (Node starts its timeout checker then).
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    limits.timeoutCheckIntervalMs;
}

/**
 * The app's edge: body parsers with size and depth limits, no `X-Powered-By`, which proxies may
 * name the client (`trustProxy`: Express's `trust proxy`, read by `req.ip` and so by the anonymous
 * throttle; off by default, so `X-Forwarded-For` is ignored), the global exception filter (errors
 * → HTTP, see `toHttpError`) and validation pipe. Call before `init`.
 */
export function setupEdge(app: INestApplication, limits: EdgeConfig = EDGE_CONFIG_DEFAULTS): void {
  const instance = app.getHttpAdapter().getInstance() as {
    disable?: (setting: string) => unknown;
    set?: (setting: string, value: unknown) => unknown;
  };
  instance.disable?.('x-powered-by');
  const trust = limits.trustProxy ?? false;
  instance.set?.('trust proxy', Array.isArray(trust) ? [...trust] : trust);
  setupBodyParsers(app, limits);
  app.useGlobalFilters(new AppExceptionFilter());
  app.useGlobalPipes(createValidationPipe());
}
