/**
 * NYSE-style trading calendar on `YYYY-MM-DD` strings, all in UTC.
 *
 * A trading day is a weekday that is not a full-day exchange holiday. Holidays follow the
 * NYSE rules computed per year (New Year's, MLK, Presidents, Good Friday, Memorial,
 * Juneteenth from 2022, Independence, Labor, Thanksgiving, Christmas), with Saturday
 * holidays observed on Friday and Sunday holidays on Monday — except New Year's Day on a
 * Saturday, which NYSE does not observe (rule 7.2). One-off closures (national mourning,
 * weather) are not modelled.
 */
import { dayNumber, dayOfNumber, isIsoDay } from '../../cache/index.js';
import { MarketDataError } from './market-data.errors.js';

const DAY_MS = 86_400_000;

/** The instant (epoch ms) a trading day's session closes: 21:00 UTC, as the sources stamp their bars and quotes. */
export function closeInstantOf(date: string): number {
  return Date.parse(`${date}T21:00:00.000Z`);
}

/** True when `date` is a real calendar date written `YYYY-MM-DD`. */
export function isIsoDate(date: string): boolean {
  // Untyped input (a JSON body) may be no string: it is read as its text, as a RegExp would.
  return isIsoDay(String(date));
}

/** Days since 1970-01-01 (UTC) of a `YYYY-MM-DD` date; throws `INVALID_ARGUMENT` on a bad date. */
export function toDayNumber(date: string): number {
  if (!isIsoDate(date))
    throw MarketDataError.invalidArgument(
      'date',
      `expected YYYY-MM-DD, got ${JSON.stringify(String(date).slice(0, 32))}`,
    );
  return dayNumber(date);
}

/** The `YYYY-MM-DD` date of a day number (days since 1970-01-01, UTC). */
export const fromDayNumber: (day: number) => string = dayOfNumber;

/** `date` plus `n` calendar days (`n` may be negative). */
export function addDays(date: string, n: number): string {
  return fromDayNumber(toDayNumber(date) + n);
}

/** Calendar days from `from` to `to` (positive when `to` is later). */
export function daysBetween(from: string, to: string): number {
  return toDayNumber(to) - toDayNumber(from);
}

/** Day of the week of a date: 0 = Sunday … 6 = Saturday. */
export function dayOfWeek(date: string): number {
  return (toDayNumber(date) + 4) % 7; // 1970-01-01 was a Thursday
}

/** `YYYYMMDD` form of a `YYYY-MM-DD` date. */
export function compactDate(date: string): string {
  return date.slice(0, 4) + date.slice(5, 7) + date.slice(8, 10);
}

/** Every calendar day from `from` to `to`, inclusive (empty when `from > to`). */
export function eachDay(from: string, to: string): string[] {
  const start = toDayNumber(from);
  const end = toDayNumber(to);
  const out: string[] = [];
  for (let d = start; d <= end; d++) out.push(fromDayNumber(d));
  return out;
}

/** True when `date` is a weekday and not an exchange holiday. */
export function isTradingDay(date: string): boolean {
  const day = toDayNumber(date);
  const dow = (day + 4) % 7;
  if (dow === 0 || dow === 6) return false;
  return !holidayDayNumbers(Number(date.slice(0, 4))).has(day);
}

/** Trading days from `from` to `to`, inclusive, in date order (from per-year cached lists). */
export function tradingDays(from: string, to: string): string[] {
  toDayNumber(from);
  toDayNumber(to);
  const out: string[] = [];
  if (from > to) return out;
  const lastYear = Number(to.slice(0, 4));
  for (let y = Number(from.slice(0, 4)); y <= lastYear; y++) {
    const days = tradingDaysOfYear(y);
    // Same-format ISO dates compare as strings; binary search the bounds in the year.
    const lo = firstIndexAtLeast(days, from);
    const hi = firstIndexAtLeast(days, to, true);
    for (let i = lo; i < hi; i++) out.push(days[i]);
  }
  return out;
}

const yearDaysCache = new Map<number, string[]>();

/** Every trading day of a year, cached. */
function tradingDaysOfYear(year: number): string[] {
  let days = yearDaysCache.get(year);
  if (days) return days;
  days = [];
  const holidays = holidayDayNumbers(year);
  for (let d = ymd(year, 1, 1), end = ymd(year + 1, 1, 1); d < end; d++) {
    const dow = (d + 4) % 7;
    if (dow !== 0 && dow !== 6 && !holidays.has(d)) days.push(fromDayNumber(d));
  }
  yearDaysCache.set(year, days);
  return days;
}

/** Index of the first entry ≥ `date` (> `date` when `after`), in a sorted list. */
function firstIndexAtLeast(days: readonly string[], date: string, after = false): number {
  let lo = 0;
  let hi = days.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (days[mid] < date || (after && days[mid] === date)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Number of trading days from `from` to `to`, inclusive (0 when `from > to`); O(years), not O(days). */
export function tradingDayCount(from: string, to: string): number {
  const start = toDayNumber(from);
  const end = toDayNumber(to);
  if (start > end) return 0;
  // Weekdays: five per whole week, then the remaining (at most six) days one by one.
  const total = end - start + 1;
  let count = Math.floor(total / 7) * 5;
  for (let d = start + Math.floor(total / 7) * 7; d <= end; d++) {
    const dow = (d + 4) % 7;
    if (dow !== 0 && dow !== 6) count++;
  }
  // Observed holidays always fall on weekdays of their own year.
  for (let y = Number(from.slice(0, 4)); y <= Number(to.slice(0, 4)); y++) {
    for (const h of holidayDayNumbers(y)) if (h >= start && h <= end) count--;
  }
  return count;
}

/** The `n`-th trading day after `date` (`n` ≥ 1; `date` itself need not be a trading day). */
export function addTradingDays(date: string, n: number): string {
  let d = date;
  for (let left = n; left > 0;) {
    d = addDays(d, 1);
    if (isTradingDay(d)) left--;
  }
  return d;
}

/** The latest trading day on or before `date`. */
export function lastTradingDayOnOrBefore(date: string): string {
  let d = date;
  while (!isTradingDay(d)) d = addDays(d, -1);
  return d;
}

/** Exchange holidays (observed dates) of a year, in date order. */
export function exchangeHolidays(year: number): string[] {
  return [...holidayDayNumbers(year)].sort((a, b) => a - b).map(fromDayNumber);
}

const holidayCache = new Map<number, Set<number>>();

function holidayDayNumbers(year: number): Set<number> {
  let set = holidayCache.get(year);
  if (!set) {
    set = computeHolidays(year);
    holidayCache.set(year, set);
  }
  return set;
}

function computeHolidays(year: number): Set<number> {
  const days: number[] = [];
  // New Year's Day: Sunday → Monday; Saturday → not observed (NYSE rule).
  const newYear = ymd(year, 1, 1);
  const newYearDow = (newYear + 4) % 7;
  if (newYearDow === 0) days.push(newYear + 1);
  else if (newYearDow !== 6) days.push(newYear);
  days.push(nthWeekday(year, 1, 1, 3)); // Martin Luther King Jr. Day: 3rd Monday of January
  days.push(nthWeekday(year, 2, 1, 3)); // Washington's Birthday: 3rd Monday of February
  days.push(easterSunday(year) - 2); // Good Friday
  days.push(lastWeekday(year, 5, 1)); // Memorial Day: last Monday of May
  if (year >= 2022) days.push(observed(ymd(year, 6, 19))); // Juneteenth
  days.push(observed(ymd(year, 7, 4))); // Independence Day
  days.push(nthWeekday(year, 9, 1, 1)); // Labor Day: 1st Monday of September
  days.push(nthWeekday(year, 11, 4, 4)); // Thanksgiving: 4th Thursday of November
  days.push(observed(ymd(year, 12, 25))); // Christmas
  return new Set(days);
}

function ymd(year: number, month: number, day: number): number {
  return Date.UTC(year, month - 1, day) / DAY_MS;
}

/** Saturday → Friday before, Sunday → Monday after. */
function observed(day: number): number {
  const dow = (day + 4) % 7;
  if (dow === 6) return day - 1;
  if (dow === 0) return day + 1;
  return day;
}

/** The `n`-th given weekday (0 = Sunday) of a month. */
function nthWeekday(year: number, month: number, weekday: number, n: number): number {
  const first = ymd(year, month, 1);
  const offset = (weekday - ((first + 4) % 7) + 7) % 7;
  return first + offset + (n - 1) * 7;
}

/** The last given weekday (0 = Sunday) of a month. */
function lastWeekday(year: number, month: number, weekday: number): number {
  const last = ymd(year, month + 1, 1) - 1;
  const back = (((last + 4) % 7) - weekday + 7) % 7;
  return last - back;
}

/** Easter Sunday (Gregorian; anonymous computus / Meeus–Jones–Butcher). */
function easterSunday(year: number): number {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return ymd(year, month, day);
}
