import { Transform } from 'class-transformer';
import { ValidateBy, type ValidationOptions } from 'class-validator';
import { isIsoDate } from '../providers/trading-calendar.js';

/**
 * Ticker format, after trimming and upper-casing: 1–10 characters, letters, digits, `.` or `-`,
 * starting with a letter or digit (`AAPL`, `BRK.B`, `RDS-A`, `7203`).
 */
export const TICKER_PATTERN = /^[A-Z0-9][A-Z0-9.-]{0,9}$/;
/** Message of a ticker that does not match `TICKER_PATTERN`. */
export const TICKER_MESSAGE =
  'must be 1-10 letters, digits, "." or "-", starting with a letter or digit';

/** Trims and upper-cases a string (or each string of an array); other values pass unchanged for the validators to reject. */
export function ToUpperCaseTrimmed(): PropertyDecorator {
  const norm = (v: unknown): unknown => (typeof v === 'string' ? v.trim().toUpperCase() : v);
  return Transform(({ value }: { value: unknown }) =>
    Array.isArray(value) ? value.map(norm) : norm(value),
  );
}

/** Trims and lower-cases a string; other values pass unchanged. */
export function ToLowerCaseTrimmed(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim().toLowerCase() : value,
  );
}

/** The value is a real calendar date written `YYYY-MM-DD` (2024-02-29 yes, 2023-02-29 no). */
export function IsCalendarDate(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isCalendarDate',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && isIsoDate(value),
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} must be a calendar date written YYYY-MM-DD`,
      },
    },
    options,
  );
}
