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
