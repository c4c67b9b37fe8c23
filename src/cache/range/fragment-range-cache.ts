import { hash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { CacheValidationError } from '../errors/cache-errors.js';
import type { CacheService } from '../cache.service.js';
import { RateLimitedLogger, errorSummary } from '../util/rate-limited-logger.js';
import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { WriteEntry } from './range-buckets.js';
import { resolveRangeSettings, type RangeSettings } from './range-cache.options.js';
import type { RangeFetcher, RangeTtlRules } from './range-cache.options.js';
import { countCoverage, type RangeCoverage, type RangeResult } from './range-coverage.js';
import {
  checkDayRange,
  contiguousRuns,
  dayNumber,
  dayOfNumber,
  isIsoDay,
  type IsoDay,
} from './range-days.js';
import {
  foldMonth,
  fromInlineDay,
  joinFragments,
  parseFragment,
  sliceMonth,
  type FragmentBucket,
} from './fragment-bucket.js';
import { fetchDays } from './fragment-fetch.js';
import { monthSegments, type MonthSegment } from './month-segments.js';
import { SingleFlight } from '../util/single-flight.js';

/** Options of a `FragmentRangeCache`. */
export interface FragmentRangeCacheOptions<T, S> {
  /** Key type of every bucket (TTL fallback, staleness, and the range hit/partial/miss counters). */
  keyType: CacheKeyType;
  /** Logical key of one day's bucket of `scope` (days of open months, and closed months not folded yet). */
  dayKey: (scope: S, date: IsoDay) => string;
  /** Logical key of a closed month's bucket of `scope` (`month` is `YYYY-MM`). */
  monthKey: (scope: S, month: string) => string;
  /** The source of a contiguous range; called once per missing contiguous range. */
  fetch: RangeFetcher<T, S>;
  /** TTL rules of day and month buckets (closed months take the closed-day TTL). */
  ttl: RangeTtlRules;
  /** Longest range accepted, in days. Default 10 000. */
  maxDays?: number;
  /** Shape check of one item of a day still stored in the earlier inline layout. */
  isItem?: (item: unknown) => boolean;
}

/** A range answered as bytes: the items as one JSON array, and a tag of its content. */
export interface RangeText extends RangeCoverage {
  /** The items, in date order, as a JSON array. */
  json: string;
  /** Hash of the answer's content, made from its buckets' hashes (for an ETag). */
  tag: string;
}

/**
 * Days outside a requested range that its read may fetch too, so that the closed months it
 * touches are wholly known and fold into their buckets: a gap of the range that reaches the
 * range's first (or last) day is widened back (or forward) over the missing days of that same
 * closed month, within these bounds (each end optional, inclusive). It never adds a source call,
 * and never reaches past a bound: days the source cannot answer (before a ticker's first day,
 * after the last day it has loaded) are never fetched this way.
 */
export interface FillBounds {
  from?: IsoDay;
  to?: IsoDay;
}

/** What is known of one month of a range once it is read (and its gaps fetched). */
interface SegmentState {
  segment: MonthSegment;
  /** The month's bucket when it is folded (closed months only). */
  month?: FragmentBucket;
  /** Without a month bucket: one slot per day of `segment.monthDays` (closed) or `segment.days` (open). */
  days?: (FragmentBucket | undefined)[];
  /** Indexes into `days` of the slots filled from the source in this read. */
  fetched: Set<number>;
}

/** Most entries written back in one pipeline. */
const WRITE_BATCH = 1000;

/**
 * Date-range cache whose closed months are one bucket each, stored as bytes.
 *
 * - A closed month (every day before today) lives in one key (`monthKey`), as the serialized
 *   JSON of its items plus a hash and where each day starts: a five-year range reads about 60
 *   keys in one batch. The open month stays per day (`dayKey`); the live day gets the short TTL.
 * - A closed month without its bucket is read per day; missing days are fetched (one source
 *   call per contiguous gap of the requested days, never more), and once every day of the
 *   month is known the month is folded into its bucket. A corrupt month bucket is a miss for
 *   that month only.
 * - A warm answer is the concatenation of the buckets' fragments (`getText`): nothing is
 *   parsed or re-serialized, and its `tag` comes from the buckets' hashes. Buckets are checked
 *   against their hash when read (L1 hands out the same frozen bucket, checked once).
 */
export class FragmentRangeCache<T, S = string> {
  private readonly settings: RangeSettings;
  private readonly inflight = new SingleFlight<RangeText>();
  private readonly log = new RateLimitedLogger(new Logger('RangeCache'));

  constructor(
    private readonly cache: CacheService,
    private readonly options: FragmentRangeCacheOptions<T, S>,
  ) {
    this.settings = resolveRangeSettings(options);
  }

  /** TTL of `date`'s bucket in seconds: long for closed days, short for today and later. */
  ttlSecondsFor(date: IsoDay): number {
    return date < this.settings.today()
      ? this.settings.closedDaySeconds
      : this.settings.liveDaySeconds;
  }

  /**
   * The range as one JSON array (bytes, not objects). Concurrent calls for the same scope and
   * range share one read and one fetch per gap (in this process).
   */
  getText(scope: S, from: IsoDay, to: IsoDay, fill?: FillBounds): Promise<RangeText> {
    checkDayRange(from, to, this.settings.maxDays);
    if (fill !== undefined) checkFillBounds(fill);
    return this.inflight.run(`${this.options.dayKey(scope, from)}|${to}`, () =>
      this.read(scope, from, to, fill),
    );
  }

  /** The range as items, in date order (parsed from `getText`). */
  async getRange(scope: S, from: IsoDay, to: IsoDay, fill?: FillBounds): Promise<RangeResult<T>> {
    const text = await this.getText(scope, from, to, fill);
    const { status, fetched, totalDays, cachedDays, asOf } = text;
    return { status, fetched, totalDays, cachedDays, asOf, items: JSON.parse(text.json) as T[] };
  }

  private async read(scope: S, from: IsoDay, to: IsoDay, fill?: FillBounds): Promise<RangeText> {
    const states = await this.readCached(scope, from, to);
    // The requested days not cached; with `fill`, also the other missing days of the closed
    // months read per day, within `fill`: a gap's fetch may widen over them (never a new call).
    const missing: IsoDay[] = [];
    const slotOf = new Map<IsoDay, [SegmentState, number]>();
    for (const state of states) {
      if (state.month) continue;
      const { segment } = state;
      const slots = state.days as (FragmentBucket | undefined)[];
      const dates = segment.closed ? segment.monthDays : segment.days;
      const first = segment.closed ? segment.first : 0;
      const last = first + segment.days.length - 1;
      for (let k = 0; k < dates.length; k++) {
        if (slots[k] !== undefined) continue;
        const asked = k >= first && k <= last;
        if (!asked && !(fill && withinFill(dates[k], fill))) continue;
        if (asked) missing.push(dates[k]);
        slotOf.set(dates[k], [state, k]);
      }
    }
    const runs = contiguousRuns(missing).map(([a, b]) => widenRun(a, b, slotOf));
    let failure: unknown;
    try {
      for (const [a, b] of runs)
        await fetchDays(this.options.fetch, scope, a, b, (day, bucket) => {
          const [state, slot] = slotOf.get(day) as [SegmentState, number];
          (state.days as (FragmentBucket | undefined)[])[slot] = bucket;
          state.fetched.add(slot);
        });
    } catch (e) {
      failure = e;
    }
    // What was fetched is written even when a later gap failed.
    await this.writeBack(scope, states);
    if (failure !== undefined) throw failure;
    const totalDays = states.reduce((n, s) => n + s.segment.days.length, 0);
    const status = missing.length === 0 ? 'hit' : missing.length === totalDays ? 'miss' : 'partial';
    countCoverage(this.cache.countersOf(this.options.keyType), status);
    return {
      status,
      fetched: runs,
      totalDays,
      cachedDays: totalDays - missing.length,
      ...assemble(from, to, states),
    };
  }

  /** One batch for the month keys of closed months and the day keys of open ones; a second for closed months not folded. */
  private async readCached(scope: S, from: IsoDay, to: IsoDay): Promise<SegmentState[]> {
    const { dayKey, monthKey } = this.options;
    const states: SegmentState[] = monthSegments(from, to, this.settings.today()).map(
      (segment) => ({ segment, fetched: new Set<number>() }),
    );
    const keys: string[] = [];
    for (const { segment } of states)
      if (segment.closed) keys.push(monthKey(scope, segment.month));
      else for (const d of segment.days) keys.push(dayKey(scope, d));
    const raw = await this.cache.pipelineGet<unknown>(keys);
    const counters = this.cache.countersOf(this.options.keyType);
    const unfolded: SegmentState[] = [];
    const corrupt: string[] = [];
    let at = 0;
    for (const state of states) {
      const { segment } = state;
      if (segment.closed) {
        const value = raw[at++];
        state.month = parseFragment(value, segment.monthDays.length);
        if (value !== undefined && !state.month) counters.corrupt++;
        if (!state.month) unfolded.push(state);
      } else {
        state.days = segment.days.map(() => this.dayOf(keys[at], raw[at++], corrupt));
      }
    }
    if (unfolded.length) {
      const dayKeys = unfolded.flatMap((s) => s.segment.monthDays.map((d) => dayKey(scope, d)));
      const dayRaw = await this.cache.pipelineGet<unknown>(dayKeys);
      at = 0;
      for (const state of unfolded)
        state.days = state.segment.monthDays.map(() =>
          this.dayOf(dayKeys[at], dayRaw[at++], corrupt),
        );
    }
    // A corrupt day is deleted (a day folded into its month is not written again); `delete`
    // never throws: an L2 that cannot take it gets the invalidation replayed.
    for (const key of corrupt) await this.cache.delete(key);
    return states;
  }

  /**
   * A stored day (either layout), or undefined; a stored value that is neither is counted corrupt
   * and its key added to `corrupt`.
   */
  private dayOf(key: string, value: unknown, corrupt: string[]): FragmentBucket | undefined {
    if (value === undefined) return undefined;
    const bucket = parseFragment(value, 1) ?? fromInlineDay(value, this.options.isItem);
    if (!bucket) {
      this.cache.countersOf(this.options.keyType).corrupt++;
      corrupt.push(key);
    }
    return bucket;
  }

  /** Folds closed months whose every day is now known; writes the other fetched days. Never throws. */
  private async writeBack(scope: S, states: SegmentState[]): Promise<void> {
    const { dayKey, monthKey, keyType } = this.options;
    const today = this.settings.today();
    const entries: WriteEntry[] = [];
    for (const state of states) {
      const { segment, days } = state;
      if (!days) continue;
      if (segment.closed && days.every((d) => d !== undefined)) {
        state.month = foldMonth(days as FragmentBucket[]);
        entries.push({
          key: monthKey(scope, segment.month),
          value: state.month,
          ttl: this.settings.closedDaySeconds,
          keyType,
        });
        continue;
      }
      const dates = segment.closed ? segment.monthDays : segment.days;
      for (const slot of state.fetched) {
        const live = dates[slot] >= today;
        entries.push({
          key: dayKey(scope, dates[slot]),
          value: days[slot],
          ttl: live ? this.settings.liveDaySeconds : this.settings.closedDaySeconds,
          keyType,
          maxStalenessSeconds: live ? 0 : undefined,
        });
      }
    }
    for (let i = 0; i < entries.length; i += WRITE_BATCH) {
      const batch = entries.slice(i, i + WRITE_BATCH);
      try {
        await this.cache.pipelineSet(batch);
      } catch (err) {
        this.log.warn(
          'write',
          `range cache write-back of ${batch.length} entries failed: ${errorSummary(err)}`,
        );
      }
    }
  }
}

function checkFillBounds(fill: FillBounds): void {
  for (const end of ['from', 'to'] as const) {
    const day = fill[end];
    if (day !== undefined && !isIsoDay(day))
      throw new CacheValidationError(`fill.${end}`, `fill.${end} must be a YYYY-MM-DD date`);
  }
}

function withinFill(day: IsoDay, fill: FillBounds): boolean {
  return (fill.from === undefined || day >= fill.from) && (fill.to === undefined || day <= fill.to);
}

/** `[a, b]` widened over the neighbouring days that have a slot to fill (see `FillBounds`). */
function widenRun(a: IsoDay, b: IsoDay, slotOf: ReadonlyMap<IsoDay, unknown>): [IsoDay, IsoDay] {
  let start = dayNumber(a);
  while (slotOf.has(dayOfNumber(start - 1))) start--;
  let end = dayNumber(b);
  while (slotOf.has(dayOfNumber(end + 1))) end++;
  return [dayOfNumber(start), dayOfNumber(end)];
}

/** The answer's JSON, content tag and `asOf` (the oldest bucket's `at`) from the states, in order. */
function assemble(
  from: IsoDay,
  to: IsoDay,
  states: readonly SegmentState[],
): { json: string; tag: string; asOf: number } {
  const pieces: string[] = [];
  // What the tag is made of (the same text as one hash update per bucket), hashed once.
  let tagText = `${from}|${to}`;
  let asOf = Number.POSITIVE_INFINITY;
  for (const { segment, month, days } of states) {
    const last = segment.first + segment.days.length - 1;
    if (month) {
      pieces.push(sliceMonth(month, segment.first, last));
      tagText += `|${month.h}@${segment.first}-${last}`;
      if (month.at < asOf) asOf = month.at;
      continue;
    }
    const offset = segment.closed ? segment.first : 0;
    for (let k = 0; k < segment.days.length; k++) {
      const day = (days as FragmentBucket[])[offset + k];
      pieces.push(day.b);
      tagText += `|${day.h}`;
      if (day.at < asOf) asOf = day.at;
    }
  }
  return {
    json: joinFragments(pieces),
    tag: hash('sha1', tagText, 'base64url'),
    asOf: Number.isFinite(asOf) ? asOf : Date.now(),
  };
}
