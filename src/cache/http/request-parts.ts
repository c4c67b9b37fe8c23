/** Pieces of a request and a handler's answer the HTTP cache looks at: the query, and bodies it never stores. */
import { StreamableFile } from '@nestjs/common';
import { CacheValidationError } from '../errors/cache-errors.js';

/** True for streamed or binary bodies (never stored). */
export function isStreamOrBinary(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  if (body instanceof StreamableFile || ArrayBuffer.isView(body) || body instanceof ArrayBuffer)
    return true;
  if (
    typeof (body as { pipe?: unknown }).pipe === 'function' ||
    typeof (body as { getReader?: unknown }).getReader === 'function'
  )
    return true;
  if (typeof Response !== 'undefined' && body instanceof Response) return true;
  return Symbol.asyncIterator in body;
}

/**
 * Sorted `name=value` pairs of a query string (repeated names kept, in value order). With
 * `allowed`, a parameter outside it throws `CacheValidationError` naming it.
 */
export function normalizeQuery(search: string, allowed?: readonly string[]): string {
  if (!search) return '';
  const params = [...new URLSearchParams(search)];
  if (allowed) {
    for (const [name] of params) {
      if (!allowed.includes(name)) {
        const shown = name.slice(0, 64);
        throw new CacheValidationError(
          shown,
          `unknown query parameter '${shown}'${allowed.length ? ` (accepted: ${allowed.join(', ')})` : ''}`,
        );
      }
    }
  }
  params.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}
