/** A date range cut into calendar months: which months are closed, and the days of each. */
import { daysInMonth, daysOf, type IsoDay } from './range-days.js';

/** The part of a range that falls in one calendar month. */
export interface MonthSegment {
  /** `YYYY-MM`. */
  month: string;
  /** The range's days in this month, in order. */
  days: IsoDay[];
  /** 0-based day-of-month of `days[0]`. */
  first: number;
  /** Every day of the month, in order (shared between reads: never changed). */
  monthDays: readonly IsoDay[];
  /** True when the whole month is before today (its data can no longer change). */
  closed: boolean;
}

/** `[from, to]` cut into months, in order; a month is closed when its last day is before `today`. */
export function monthSegments(from: IsoDay, to: IsoDay, today: IsoDay): MonthSegment[] {
  const out: MonthSegment[] = [];
  let start = from;
  while (start <= to) {
    const month = start.slice(0, 7);
    const monthDays = daysOfMonth(month);
    const end = monthDays[monthDays.length - 1];
    const last = end < to ? end : to;
    const first = Number(start.slice(8, 10)) - 1;
    out.push({
      month,
      days: monthDays.slice(first, first + daysBetween(start, last)),
      first,
      monthDays,
      closed: end < today,
    });
    start = nextMonthStart(month);
  }
  return out;
}

/** Months whose days were listed, remembered: a range read lists the same months again and again. */
const MONTH_DAYS = new Map<string, readonly IsoDay[]>();
/** Most months remembered (about 400 years); past it the memory starts over. */
const MAX_REMEMBERED_MONTHS = 4800;

/**
 * Every day of `month` (`YYYY-MM`), in order: one list per month, shared by every caller (read
 * only; not frozen, as `slice` of a frozen array leaves V8's fast path).
 */
function daysOfMonth(month: string): readonly IsoDay[] {
  let days = MONTH_DAYS.get(month);
  if (days === undefined) {
    if (MONTH_DAYS.size >= MAX_REMEMBERED_MONTHS) MONTH_DAYS.clear();
    days = daysOf(`${month}-01`, lastDayOf(month));
    MONTH_DAYS.set(month, days);
  }
  return days;
}

/** Days of `[a, b]` counted inclusively, both in the same month. */
function daysBetween(a: IsoDay, b: IsoDay): number {
  return Number(b.slice(8, 10)) - Number(a.slice(8, 10)) + 1;
}

function lastDayOf(month: string): IsoDay {
  const y = Number(month.slice(0, 4));
  const m = Number(month.slice(5, 7));
  const days = daysInMonth(y, m);
  return `${month}-${String(days).padStart(2, '0')}`;
}

function nextMonthStart(month: string): IsoDay {
  let y = Number(month.slice(0, 4));
  let m = Number(month.slice(5, 7)) + 1;
  if (m > 12) {
    m = 1;
    y++;
  }
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-01`;
}
