/** Write-back of fetched days in batches, in either bucket layout and either part encoding. */
import type { IsoDay } from './range-days.js';
import type { RangeCacheOptions, RangeSettings } from './range-cache.options.js';
import type { IndexBucket, InlineBucket, WriteEntry } from './range-buckets.js';
import { encodeLine, textPartOf } from './text-part.js';

/**
 * What a `DayWriter` needs from its cache: layout facts and entry builders. The writer buffers a
 * day's items as they are, or (text parts) as their NDJSON lines; the builders get that buffer.
 */
export interface DayWriterHooks<T> {
  /** Most items per part; undefined for the inline layout (a day is written whole). */
  partSize: number | undefined;
  /** Items gathered before a batch is written. */
  batchItems: number;
  /** The NDJSON line of an item when parts are stored as text; undefined: items are buffered as they are. */
  encodeLine: ((item: T) => string) | undefined;
  /** Entries of a completed day: the buffered items not yet cut into parts (`rest`, starting at part `restPart`) and its head. */
  dayEntries(
    date: IsoDay,
    at: number,
    rest: readonly unknown[],
    count: number,
    restPart: number,
  ): WriteEntry[];
  /** Entry of a full part cut from a day still arriving. */
  partEntry(date: IsoDay, part: number, buffered: readonly unknown[]): WriteEntry;
  /** Stores a batch of entries; never throws. */
  store(entries: WriteEntry[]): Promise<void>;
}

/** Most entries queued before a batch is written, whatever their item count. */
const MAX_PENDING_ENTRIES = 5000;

/** Gathers completed days (and full parts of a large day still arriving) and writes them in batches. */
export class DayWriter<T> {
  private pending: WriteEntry[] = [];
  private pendingItems = 0;
  private buffer: unknown[] = [];
  private count = 0;
  private partsCut = 0;
  private runAt = Date.now();

  constructor(private readonly hooks: DayWriterHooks<T>) {}

  /** Marks the start of a source fetch: its days carry this time as `at`. */
  beginRun(): void {
    this.runAt = Date.now();
  }

  /** Starts collecting a day (a day not completed is never written). */
  startDay(): void {
    this.buffer = [];
    this.count = 0;
    this.partsCut = 0;
  }

  /**
   * Adds items of the current day; full parts are queued (and written) at once. Answers the
   * items' NDJSON text when parts are stored as text (each item encoded once, for the part and
   * for the caller), else undefined.
   */
  async add(date: IsoDay, items: readonly T[]): Promise<string | undefined> {
    const { partSize, encodeLine } = this.hooks;
    let text = '';
    for (const item of items) {
      if (encodeLine) {
        const line = encodeLine(item);
        text += line;
        this.buffer.push(line);
      } else this.buffer.push(item);
      if (partSize !== undefined && this.buffer.length === partSize) {
        this.enqueue([this.hooks.partEntry(date, this.partsCut++, this.buffer)], partSize);
        this.buffer = [];
      }
    }
    this.count += items.length;
    await this.flushIfFull();
    return encodeLine ? text : undefined;
  }

  /** Queues the current day's remaining items and its head. */
  async completeDay(date: IsoDay): Promise<void> {
    this.enqueue(
      this.hooks.dayEntries(date, this.runAt, this.buffer, this.count, this.partsCut),
      this.buffer.length,
    );
    this.buffer = [];
    await this.flushIfFull();
  }

  /** Queues the "no items" head of a day. */
  async emptyDay(date: IsoDay): Promise<void> {
    this.enqueue(this.hooks.dayEntries(date, this.runAt, [], 0, 0), 0);
    await this.flushIfFull();
  }

  /** Writes every queued entry (never throws). */
  async flush(): Promise<void> {
    const entries = this.pending;
    this.pending = [];
    this.pendingItems = 0;
    await this.hooks.store(entries);
  }

  private enqueue(entries: WriteEntry[], items: number): void {
    for (const e of entries) this.pending.push(e);
    this.pendingItems += items;
  }

  private async flushIfFull(): Promise<void> {
    if (this.pendingItems >= this.hooks.batchItems || this.pending.length >= MAX_PENDING_ENTRIES)
      await this.flush();
  }
}

/**
 * The writer of one walk over `scope`: entries in the cache's layout (inline, or parts plus an
 * index head; parts as arrays or as NDJSON text), closed days with the long TTL, the live day and
 * later with the short TTL and no fail-safe staleness (so Redis drops them at their short TTL).
 */
export function createDayWriter<T, S>(
  scope: S,
  options: RangeCacheOptions<T, S>,
  settings: RangeSettings,
  store: (entries: WriteEntry[]) => Promise<void>,
): DayWriter<T> {
  const { keyType, dayKey, partKey } = options;
  const { partSize } = settings;
  const asText = options.encodePart === 'ndjson';
  const entry = (key: string, date: IsoDay, value: unknown): WriteEntry => {
    const live = date >= settings.today();
    return {
      key,
      value,
      ttl: live ? settings.liveDaySeconds : settings.closedDaySeconds,
      keyType,
      maxStalenessSeconds: live ? 0 : undefined,
    };
  };
  /** A part's stored value: its lines as a text part, or its items as an array. */
  const partValue = (buffered: readonly unknown[]): unknown =>
    asText ? textPartOf(buffered as readonly string[]) : buffered;
  return new DayWriter<T>({
    partSize: partKey ? partSize : undefined,
    batchItems: settings.writeBatchItems,
    encodeLine: asText ? encodeLine : undefined,
    dayEntries: (date, at, rest, count, restPart) => {
      if (!partKey)
        return [
          entry(dayKey(scope, date), date, { at, items: rest as T[] } satisfies InlineBucket<T>),
        ];
      const out = rest.length ? [entry(partKey(scope, date, restPart), date, partValue(rest))] : [];
      out.push(
        entry(dayKey(scope, date), date, {
          at,
          count,
          parts: Math.ceil(count / partSize),
        } satisfies IndexBucket),
      );
      return out;
    },
    partEntry: (date, part, buffered) =>
      entry((partKey as NonNullable<typeof partKey>)(scope, date, part), date, partValue(buffered)),
    store,
  });
}
