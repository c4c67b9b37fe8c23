import { Buffer } from 'node:buffer';
import { SerializationError } from '../errors/cache-errors.js';
import { MAX_VALUE_DEPTH } from '../tiered/cache-entry.js';

/*
 * How values written through the Keyv adapter are stored (as the `v` of the tiered cache's JSON
 * envelope). A tag is an object whose first key starts with `!`:
 *
 *   {"!buf": base64}          a Buffer
 *   {"!obj": {...}}           a caller's object that has a key starting with `!` (kept verbatim)
 *   {"!keyv": text}           top level: the text a Keyv serializer made (given back untouched)
 *   {"!key": key, "!v": ...}  top level: a Keyv key stored in digest form, and its value
 *
 * Every caller object with a `!` key is wrapped in `!obj`, so a caller's value never reads as a
 * tag: the encoding is one-to-one. Other values are stored as they are (JSON semantics: a `Date`
 * becomes its ISO string, a `Map` or `Set` `{}`).
 */

const BUFFER = '!buf';
const OBJECT = '!obj';
const SERIALIZED = '!keyv';
const LONG_KEY = '!key';
const LONG_VALUE = '!v';
const BANG = 33; // '!'

/** What the adapter gets back from one stored value. */
export type KeyvRecord =
  | { kind: 'serialized'; text: string; key?: string }
  | { kind: 'value'; value: unknown; key?: string };

/**
 * The stored form of what Keyv handed the adapter: the text of a Keyv serializer as it is, or a
 * `{ value }` record's value with Buffers tagged; `keyvKey` is kept beside it for a digest key.
 * Throws `SerializationError` for a cycle or a value nested deeper than `MAX_VALUE_DEPTH`.
 */
export function encodeKeyvRecord(data: string | { value: unknown }, keyvKey?: string): unknown {
  const stored =
    typeof data === 'string' ? { [SERIALIZED]: data } : encodeValue(data.value, 0, new Set());
  return keyvKey === undefined ? stored : { [LONG_KEY]: keyvKey, [LONG_VALUE]: stored };
}

/**
 * Reads a stored value back (see `encodeKeyvRecord`). With `copy`, the value is a fresh, mutable
 * copy; without, the stored (frozen, shared) value is answered as it is where it holds no tag.
 */
export function decodeKeyvRecord(stored: unknown, copy: boolean): KeyvRecord {
  let key: string | undefined;
  let inner = stored;
  if (firstKey(stored) === LONG_KEY) {
    const wrapper = stored as Record<string, unknown>;
    key = wrapper[LONG_KEY] as string;
    inner = wrapper[LONG_VALUE];
  }
  if (firstKey(inner) === SERIALIZED) {
    return { kind: 'serialized', text: (inner as Record<string, string>)[SERIALIZED], key };
  }
  return { kind: 'value', value: decodeValue(inner, copy), key };
}

/** The first own key of a plain object (`undefined` for anything else). */
function firstKey(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  for (const k in value) return k;
  return undefined;
}

/** A caller's value with Buffers tagged and `!`-keyed objects wrapped; copied only where changed. */
function encodeValue(value: unknown, depth: number, path: Set<object>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Buffer.isBuffer(value)) return { [BUFFER]: value.toString('base64') };
  // Other objects with `toJSON` (a Date) are left to JSON.stringify.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  if (depth >= MAX_VALUE_DEPTH)
    throw new SerializationError(
      `value is nested deeper than ${MAX_VALUE_DEPTH} levels of objects and arrays`,
    );
  if (path.has(value)) throw new SerializationError('value is not JSON-serializable: a cycle');
  path.add(value);
  try {
    return Array.isArray(value)
      ? encodeArray(value, depth, path)
      : encodeObject(value as Record<string, unknown>, depth, path);
  } finally {
    path.delete(value);
  }
}

function encodeArray(array: unknown[], depth: number, path: Set<object>): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < array.length; i++) {
    const item = encodeValue(array[i], depth + 1, path);
    if (item !== array[i]) (out ??= array.slice())[i] = item;
  }
  return out ?? array;
}

function encodeObject(
  object: Record<string, unknown>,
  depth: number,
  path: Set<object>,
): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  let bang = false;
  for (const k of Object.keys(object)) {
    if (k.charCodeAt(0) === BANG) bang = true;
    const item = encodeValue(object[k], depth + 1, path);
    if (item !== object[k]) (out ??= { ...object })[k] = item;
  }
  const encoded = out ?? object;
  return bang ? { [OBJECT]: encoded } : encoded;
}

/** Reverses `encodeValue` on parsed JSON: Buffers back, `!obj` unwrapped; copies all with `copy`. */
function decodeValue(value: unknown, copy: boolean): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined = copy ? new Array<unknown>(value.length) : undefined;
    for (let i = 0; i < value.length; i++) {
      const item = decodeValue(value[i], copy);
      if (out !== undefined) out[i] = item;
      else if (item !== value[i]) (out = value.slice())[i] = item;
    }
    return out ?? value;
  }
  const object = value as Record<string, unknown>;
  const first = firstKey(object);
  if (first === BUFFER) return Buffer.from(object[BUFFER] as string, 'base64');
  if (first === OBJECT) return decodeObject(object[OBJECT] as Record<string, unknown>, copy);
  return decodeObject(object, copy);
}

/** An object's values decoded (its own keys kept verbatim). */
function decodeObject(object: Record<string, unknown>, copy: boolean): Record<string, unknown> {
  let out: Record<string, unknown> | undefined = copy ? {} : undefined;
  for (const k in object) {
    const item = decodeValue(object[k], copy);
    if (out !== undefined) out[k] = item;
    else if (item !== object[k]) (out = { ...object })[k] = item;
  }
  return out ?? object;
}
