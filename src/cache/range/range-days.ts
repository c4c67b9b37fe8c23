/** Calendar-day arithmetic on `YYYY-MM-DD` strings (UTC), as the range cache needs it. */
import { CacheValidationError } from '../errors/cache-errors.js';

const DAY_MS = 86_400_000;
const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A calendar date written `YYYY-MM-DD` (UTC, no time zone). */
export type IsoDay = string;

/** True when `value` is a real calendar date written `YYYY-MM-DD` (no 2024-02-30). */
export function isIsoDay(value: unknown): value is IsoDay {
  if (typeof value !== 'string') return false;
  const m = DAY_RE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return (
    d.getUTCFullYear() === Number(m[1]) &&
    d.getUTCMonth() === Number(m[2]) - 1 &&
    d.getUTCDate() === Number(m[3])
  );
}

/** Days since 1970-01-01 of a date already checked with `isIsoDay`. */
export function dayNumber(day: IsoDay): number {
  return (
    Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10))) /
    DAY_MS
  );
}

/** The `YYYY-MM-DD` date of a day number (days since 1970-01-01, UTC). */
export function dayOfNumber(n: number): IsoDay {
  return new Date(n * DAY_MS).toISOString().slice(0, 10);
}

/** Today's date in UTC from the system clock. */
export function todayUtcDay(): IsoDay {
  return new Date(Date.now()).toISOString().slice(0, 10);
}

/** Every calendar day of `[from, to]`, inclusive, in order (built by counting, no Date per day). */
export function daysOf(from: IsoDay, to: IsoDay): IsoDay[] {
  const count = dayNumber(to) - dayNumber(from) + 1;
  const out: IsoDay[] = new Array(Math.max(0, count));
  let y = Number(from.slice(0, 4));
  let m = Number(from.slice(5, 7));
  let d = Number(from.slice(8, 10));
  let head = `${String(y).padStart(4, '0')}-${pad2(m)}-`;
  let monthDays = daysInMonth(y, m);
  for (let i = 0; i < count; i++) {
    out[i] = head + pad2(d);
    if (++d > monthDays) {
      d = 1;
      if (++m > 12) {
        m = 1;
        y++;
      }
      head = `${String(y).padStart(4, '0')}-${pad2(m)}-`;
      monthDays = daysInMonth(y, m);
    }
  }
  return out;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Days in `month` (1-12) of `year`, Gregorian. */
export function daysInMonth(year: number, month: number): number {
  if (month !== 2) return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

/** Coalesces days (in ascending order) into contiguous `[from, to]` runs. */
export function contiguousRuns(days: readonly IsoDay[]): Array<[IsoDay, IsoDay]> {
  const runs: Array<[IsoDay, IsoDay]> = [];
  let prev = Number.NaN;
  for (const day of days) {
    const n = dayNumber(day);
    const last = runs[runs.length - 1];
    if (last && n === prev + 1) last[1] = day;
    else runs.push([day, day]);
    prev = n;
  }
  return runs;
}

/**
 * Checks a `[from, to]` range: real dates, `from ≤ to`, at most `maxDays` days.
 * Throws `CacheValidationError` naming `from` or `to`; answers the number of days.
 */
export function checkDayRange(from: unknown, to: unknown, maxDays: number): number {
  if (!isIsoDay(from))
    throw new CacheValidationError('from', 'from must be a calendar date written YYYY-MM-DD');
  if (!isIsoDay(to))
    throw new CacheValidationError('to', 'to must be a calendar date written YYYY-MM-DD');
  const days = dayNumber(to) - dayNumber(from) + 1;
  if (days < 1)
    throw new CacheValidationError('from', `from (${from}) must be on or before to (${to})`);
  if (days > maxDays)
    throw new CacheValidationError(
      'to',
      `to must be at most ${maxDays - 1} days after from (${from}..${to} spans ${days} days)`,
    );
  return days;
}
