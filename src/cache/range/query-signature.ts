import { createHash } from 'node:crypto';
import { CacheValidationError } from '../errors/cache-errors.js';

/** One filter value a query signature accepts; arrays are sets (order and duplicates ignored). */
export type SignatureValue =
  string | number | boolean | null | undefined | readonly (string | number)[];

/** Length of a query signature, in hex characters (80 bits). */
export const QUERY_SIGNATURE_LENGTH = 20;

/**
 * The canonical form of a filter object: keys sorted; `null`, `undefined`, `''` and `[]` dropped
 * (absent and empty mean the same, so give an empty set no meaning of its own); strings trimmed;
 * arrays sorted and deduplicated; `-0` as `0`. Throws `CacheValidationError` for non-finite numbers
 * and nested objects.
 */
export function canonicalFilters(
  filters: Readonly<Record<string, SignatureValue>>,
): Record<string, string | number | boolean | (string | number)[]> {
  const out: Record<string, string | number | boolean | (string | number)[]> = {};
  for (const key of Object.keys(filters).sort()) {
    const v = filters[key];
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) {
      const set = [
        ...new Set(
          v
            .map((x) => scalar(x, key))
            .filter((x): x is string | number => x !== '' && typeof x !== 'boolean'),
        ),
      ].sort(compareScalars);
      if (set.length) out[key] = set;
    } else if (typeof v === 'object') {
      throw new CacheValidationError(
        key,
        `filter ${key} must be a string, number, boolean or an array of them`,
      );
    } else {
      const s = scalar(v, key);
      if (s !== '') out[key] = s;
    }
  }
  return out;
}

/**
 * The signature of a query's filters (without its dates): SHA-256 of the canonical JSON, hex,
 * first 20 characters, prefixed by `kind` in the hash so two kinds of query never share one.
 */
export function querySignature(
  kind: string,
  filters: Readonly<Record<string, SignatureValue>>,
): string {
  return createHash('sha256')
    .update(`${kind}\n${JSON.stringify(canonicalFilters(filters))}`)
    .digest('hex')
    .slice(0, QUERY_SIGNATURE_LENGTH);
}

function scalar(x: unknown, key: string): string | number | boolean {
  if (typeof x === 'string') return x.trim();
  if (typeof x === 'number') {
    if (!Number.isFinite(x))
      throw new CacheValidationError(key, `filter ${key} must be a finite number`);
    return x === 0 ? 0 : x;
  }
  if (typeof x === 'boolean') return x;
  throw new CacheValidationError(key, `filter ${key} must hold strings or numbers`);
}

function compareScalars(a: string | number | boolean, b: string | number | boolean): number {
  const ka = `${typeof a}:${String(a)}`;
  const kb = `${typeof b}:${String(b)}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
