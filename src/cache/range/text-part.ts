/**
 * Parts of the parts layout stored as bytes (`encodePart: 'ndjson'`): a part's items as NDJSON
 * text with their count and a content hash. A warm stream hands the stored text on as it is;
 * items are parsed only for a consumer that asks for objects.
 */
import { SerializationError } from '../errors/cache-errors.js';
import { hashFragment } from './fragment-bucket.js';
import type { DayChunk } from './day-chunks.js';
import type { IsoDay } from './range-days.js';

/** A stored part of the `'ndjson'` encoding. */
export interface TextPart {
  /** Items in the part (≥ 1: a day without items has no part). */
  n: number;
  /** Content hash of `t` (`hashFragment`: SHA-1, base64url). */
  h: string;
  /** Each item's JSON followed by `\n`. */
  t: string;
}

/** The NDJSON line of one item: its JSON followed by `\n`. */
export function encodeLine<T>(item: T): string {
  return JSON.stringify(item) + '\n';
}

/** A part from its lines (each already ending with `\n`). */
export function textPartOf(lines: readonly string[]): TextPart {
  const t = lines.join('');
  return { n: lines.length, h: hashFragment(t), t };
}

/** Number of `\n` in `text`. */
export function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** `text` without its first `lines` lines. */
export function dropLines(text: string, lines: number): string {
  let at = 0;
  for (let k = 0; k < lines && at < text.length; k++) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) return '';
    at = nl + 1;
  }
  return text.slice(at);
}

/**
 * Parts whose text was checked against its hash and count. L1 hands out the same frozen part on
 * every hit, so each is checked once when it enters L1, not on every warm request.
 */
const verified = new WeakSet<TextPart>();

/**
 * A stored value as a text part of exactly `count` items, or undefined when it is not one (then
 * its day is fetched again): not an object of the shape `{ n, h, t }`, `n` not `count`, a text
 * that does not end with `\n` or does not hold `n` lines, or a text whose hash is not `h`.
 */
export function parseTextPart(value: unknown, count: number): TextPart | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Partial<TextPart>;
  if (v.n !== count || typeof v.t !== 'string' || typeof v.h !== 'string') return undefined;
  if (verified.has(v as TextPart)) return v as TextPart;
  if (count < 1 || v.t.charCodeAt(v.t.length - 1) !== 10 /* \n */) return undefined;
  if (countLines(v.t) !== count || hashFragment(v.t) !== v.h) return undefined;
  if (Object.isFrozen(v)) verified.add(v as TextPart);
  return v as TextPart;
}

/**
 * Items of NDJSON text written by `encodeLine` (JSON only: a line never holds a raw newline).
 * Throws `SerializationError` when the text is not such NDJSON.
 */
export function parseLines<T>(text: string): T[] {
  if (text.length === 0) return [];
  try {
    return JSON.parse(`[${text.slice(0, -1).replaceAll('\n', ',')}]`) as T[];
  } catch (e) {
    throw new SerializationError('a cached NDJSON part is not JSON lines', e);
  }
}

/** A chunk carrying its items as NDJSON text; `items` is parsed from the text on first use. */
export class TextDayChunk<T> implements DayChunk<T> {
  private parsed: readonly T[] | undefined;

  constructor(
    readonly date: IsoDay,
    readonly text: string,
    items?: readonly T[],
  ) {
    this.parsed = items;
  }

  /** The items, parsed from `text` the first time they are asked for. */
  get items(): readonly T[] {
    return (this.parsed ??= parseLines<T>(this.text));
  }
}
