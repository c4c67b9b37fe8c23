import { CacheValidationError } from '../errors/cache-errors.js';

/** Returns `value` when it is a positive safe integer; else throws `CacheValidationError(field)`. */
export function positiveInteger(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new CacheValidationError(
      field,
      `${field} must be a positive integer (got ${String(value)})`,
    );
  }
  return value;
}

/**
 * Returns `value` when it is a finite number above zero (or zero too, with `allowZero`) of `unit`;
 * else throws `CacheValidationError(field)`. The one positive-number check of the library.
 */
export function positiveNumber(
  value: unknown,
  field: string,
  unit: 'milliseconds' | 'seconds',
  allowZero = false,
): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (!allowZero && value === 0)
  ) {
    throw new CacheValidationError(
      field,
      `${field} must be a ${allowZero ? 'non-negative' : 'positive'} number of ${unit}, got ${String(value)}`,
    );
  }
  return value;
}

/** Throws `CacheValidationError('ttlMs')` unless `ttlMs` is a positive, finite number of milliseconds. */
export function assertTtlMs(ttlMs: number, field = 'ttlMs'): void {
  positiveNumber(ttlMs, field, 'milliseconds');
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
