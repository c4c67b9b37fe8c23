import { InvalidTtlError } from '../errors/cache-errors.js';

/**
 * A TTL as callers write it: seconds (number, fractions allowed), a duration string
 * (`'500ms'`, `'30s'`, `'5m'`, `'1h'`, `'2d'`), or an absolute expiry `Date`.
 */
export type TtlInput = number | string | Date;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/;

/**
 * Converts a TTL input to milliseconds from `nowMs`. Throws `InvalidTtlError` naming `field`
 * for anything that is not a positive, finite duration or a future date.
 */
export function ttlToMs(input: TtlInput, field = 'ttl', nowMs = Date.now()): number {
  let ms: number;
  if (typeof input === 'number') {
    ms = input * 1000;
  } else if (typeof input === 'string') {
    const m = DURATION.exec(input);
    if (!m) throw new InvalidTtlError(input, field);
    ms = Number(m[1]) * UNIT_MS[m[2] ?? 's'];
  } else if (input instanceof Date) {
    ms = input.getTime() - nowMs;
  } else {
    throw new InvalidTtlError(input, field);
  }
  if (!Number.isFinite(ms) || ms <= 0) throw new InvalidTtlError(input, field);
  return Math.max(1, Math.round(ms));
}

/** Like `ttlToMs` but answers in (fractional) seconds. */
export function ttlToSeconds(input: TtlInput, field = 'ttl'): number {
  return ttlToMs(input, field) / 1000;
}
