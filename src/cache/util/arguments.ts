import { CacheValidationError } from '../errors/cache-errors.js';

/** Throws `CacheValidationError('ttlMs')` unless `ttlMs` is a positive, finite number of milliseconds. */
export function assertTtlMs(ttlMs: number, field = 'ttlMs'): void {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new CacheValidationError(
      field,
      `${field} must be a positive number of milliseconds, got ${String(ttlMs)}`,
    );
  }
}

/** Throws `CacheValidationError(field)` unless `value` is a non-empty string of at most `maxLength` characters. */
export function assertText(
  value: unknown,
  field: string,
  maxLength: number,
): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new CacheValidationError(
      field,
      `${field} must be a non-empty string of at most ${maxLength} characters`,
    );
  }
}

/**
 * The one positive-number check of the library: `value` when it is a finite number > 0 (an
 * integer when `integer`), `fallback` when `value` is undefined, else a `CacheValidationError`
 * naming `field`. `unit` goes into the message ("milliseconds", "seconds", "bytes").
 */
export function positiveNumber(
  field: string,
  value: number | undefined,
  fallback: number,
  opts: { integer?: boolean; unit?: string } = {},
): number {
  if (value === undefined) return fallback;
  const kind = opts.integer ? 'positive integer' : 'positive number';
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value > 0 &&
    (!opts.integer || Number.isInteger(value));
  if (!ok)
    throw new CacheValidationError(
      field,
      `${field} must be a ${kind}${opts.unit ? ` of ${opts.unit}` : ''} (got ${String(value)})`,
    );
  return value;
}
