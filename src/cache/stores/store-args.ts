import { CacheValidationError } from '../errors/cache-errors.js';

/** Throws `CacheValidationError('ttlMs')` unless `ttlMs` is a positive, finite number of milliseconds. */
export function assertTtlMs(ttlMs: number, field = 'ttlMs'): void {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new CacheValidationError(field, `${field} must be a positive number of milliseconds, got ${String(ttlMs)}`);
  }
}
