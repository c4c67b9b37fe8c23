/** Stable machine-readable codes carried by every error the cache library throws. */
export type CacheErrorCode =
  | 'CACHE_INVALID_OPTION'
  | 'CACHE_INVALID_KEY'
  | 'CACHE_INVALID_TTL'
  | 'CACHE_VALUE_TOO_LARGE'
  | 'CACHE_SERIALIZATION'
  | 'CACHE_FACTORY_TIMEOUT'
  | 'CACHE_FACTORY_FAILED'
  | 'CACHE_STORE_UNAVAILABLE'
  | 'CACHE_QUOTA_EXCEEDED';

/** Base class of the library's typed errors: a stable `code`, a message, an optional `cause`. */
export class CacheError extends Error {
  constructor(
    readonly code: CacheErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A module option or method argument is invalid; `field` names it. */
export class CacheValidationError extends CacheError {
  constructor(
    readonly field: string,
    message: string,
    code: CacheErrorCode = 'CACHE_INVALID_OPTION',
  ) {
    super(code, message);
  }
}

/** A TTL argument could not be understood (bad number, duration string or date). */
export class InvalidTtlError extends CacheValidationError {
  constructor(value: unknown, field = 'ttl') {
    super(
      field,
      `${field}: invalid TTL ${describe(value)} (use seconds, a duration like '5m', or a future Date)`,
      'CACHE_INVALID_TTL',
    );
  }
}

/** A value is larger than the configured maximum (`maxValueBytes`). */
export class ValueTooLargeError extends CacheError {
  constructor(
    readonly key: string,
    readonly sizeBytes: number,
    readonly limitBytes: number,
  ) {
    super(
      'CACHE_VALUE_TOO_LARGE',
      `value for key is ${sizeBytes} bytes; the limit (maxValueBytes) is ${limitBytes}`,
    );
  }
}

/** A value could not be serialized (cycles, BigInt, ...). */
export class SerializationError extends CacheError {
  constructor(message: string, cause?: unknown) {
    super('CACHE_SERIALIZATION', message, { cause });
  }
}

/** A factory passed its hard timeout and no stale value could stand in. */
export class FactoryTimeoutError extends CacheError {
  constructor(
    readonly key: string,
    readonly timeoutMs: number,
  ) {
    super('CACHE_FACTORY_TIMEOUT', `factory for a cache key did not answer within ${timeoutMs} ms`);
  }
}

/** A factory threw and no stale value (within maxStaleness) could stand in. */
export class FactoryError extends CacheError {
  constructor(
    readonly key: string,
    cause: unknown,
  ) {
    super(
      'CACHE_FACTORY_FAILED',
      `factory failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

function describe(value: unknown): string {
  if (value instanceof Date)
    return `Date(${isNaN(value.getTime()) ? 'invalid' : value.toISOString()})`;
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  return String(value);
}
