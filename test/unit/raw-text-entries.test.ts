/**
 * Entries whose long text is stored raw: a string value, or the longest string field of a plain
 * object, of at least `RAW_TEXT_MIN_CHARS` characters is written after a length prefix instead of
 * inside the JSON (no escaping on write, a slice on read). What a reader gets back is exactly what
 * was written, frozen; anything that does not fit the format is corrupt, never a wrong value.
 */
import { CacheKeyBuilder } from '../../src/cache/keys/cache-key-builder.js';
import { CacheTTLPolicy } from '../../src/cache/keys/cache-ttl-policy.js';
import { MemoryStore } from '../../src/cache/stores/memory-store.js';
import { RAW_TEXT_MIN_CHARS, encodeEntry, readEntry } from '../../src/cache/tiered/cache-entry.js';
import { TieredCache } from '../../src/cache/tiered/tiered-cache.js';

const AS_OF = Date.UTC(2024, 2, 15, 12);
const FAR = Date.UTC(2099, 0, 1);
const TAIL = `,"a":${AS_OF},"s":${FAR},"e":${FAR},"k":${FAR}}`;
/** A fragment of bars JSON, quotes and all: what JSON would have to escape. */
const BODY = '{"date":"2024-03-15","close":171.2,"note":"a \\"quoted\\" word"},'.repeat(40);
const encode = (value: unknown) => encodeEntry(value, AS_OF, FAR, FAR, FAR);

function value<T>(text: string): T {
  const entry = readEntry<T>(text, undefined);
  if (typeof entry === 'string') throw new Error(`refused: ${entry}`);
  return entry.value;
}

/** A tiered cache over `store` with L1 off: every read decodes the stored text. */
const tieredOver = (store: MemoryStore) =>
  new TieredCache(store, new CacheKeyBuilder('raw'), new CacheTTLPolicy(), {
    l1: { maxEntries: 100, maxBytes: 1 << 20, maxItemBytes: 1 },
    swrPercent: 20,
    hardTimeoutMs: 2000,
    failSafeThrottleMs: 1000,
    maxValueBytes: 1 << 20,
  });

describe('entries with raw text', () => {
  it('stores the longest long string field unescaped and gives the object back as written, frozen', () => {
    const bucket = { at: AS_OF, n: 40, h: 'x'.repeat(RAW_TEXT_MIN_CHARS), b: BODY, o: [0, 5] };
    const text = encode(bucket);
    expect(text).toBe(
      `~${BODY.length}:${BODY}{"v":{"at":${AS_OF},"n":40,"h":"${bucket.h}","b":null,"o":[0,5]},"r":"b"${TAIL}`,
    );
    const back = value<typeof bucket>(text);
    expect(back).toEqual(bucket);
    expect(Object.keys(back)).toEqual(['at', 'n', 'h', 'b', 'o']);
    expect(Object.isFrozen(back) && Object.isFrozen(back.o)).toBe(true);
  });

  it('stores a long string value unescaped; short strings and other values stay JSON', () => {
    expect(encode(BODY)).toBe(`~${BODY.length}:${BODY}{"v":null,"r":true${TAIL}`);
    expect(value<string>(encode(BODY))).toBe(BODY);
    const short = BODY.slice(0, RAW_TEXT_MIN_CHARS - 1);
    expect(encode(short)).toBe(`{"v":${JSON.stringify(short)}${TAIL}`);
    expect(encode({ list: [BODY] })).toBe(`{"v":${JSON.stringify({ list: [BODY] })}${TAIL}`);
    expect(encode({ nested: { b: BODY } }).startsWith('{')).toBe(true);
  });

  it('keeps JSON for what raw text would change: lone surrogates, toJSON, class instances', () => {
    const lone = 'a'.repeat(RAW_TEXT_MIN_CHARS) + '\ud800';
    expect(encode(lone).startsWith('{')).toBe(true);
    expect(value<string>(encode(lone))).toBe(lone);
    expect(value<{ b: string }>(encode({ b: lone }))).toEqual({ b: lone });
    const withToJson = { b: BODY, toJSON: () => ({ replaced: true }) };
    expect(value(encode(withToJson))).toEqual({ replaced: true });
    class Holder {
      constructor(readonly b: string) {}
    }
    expect(encode(new Holder(BODY)).startsWith('{')).toBe(true);
    expect(value(encode(new Holder(BODY)))).toEqual({ b: BODY });
  });

  it.each([
    ['no length', `~:${BODY}{"v":null,"r":true${TAIL}`],
    ['a length that is not digits', `~1e3:${BODY}{"v":null,"r":true${TAIL}`],
    ['a length past the end', `~${BODY.length + 10_000}:${BODY}{"v":null,"r":true${TAIL}`],
    ['a length cutting into the JSON', `~${BODY.length + 3}:${BODY}{"v":null,"r":true${TAIL}`],
    ['no JSON after the text', `~${BODY.length}:${BODY}`],
  ])('answers json for a raw entry with %s', (_what, text) => {
    expect(readEntry(text, undefined)).toBe('json');
  });

  it.each([
    ['r true and a value that is not null', `{"v":1,"r":true${TAIL}`],
    ['r naming a field the value does not have', `{"v":{"a":null},"r":"b"${TAIL}`],
    ['r naming a field that is not null', `{"v":{"b":1},"r":"b"${TAIL}`],
    ['r naming a field of an array', `{"v":[null],"r":"0"${TAIL}`],
    ['r missing', `{"v":null${TAIL}`],
    ['r a number', `{"v":null,"r":1${TAIL}`],
  ])('answers shape for raw text whose JSON has %s', (_what, json) => {
    expect(readEntry(`~${BODY.length}:${BODY}${json}`, undefined)).toBe('shape');
  });

  it('refuses a "__proto__" key in a raw entry, as r or inside the value', () => {
    const own = `{"v":{"__proto__":null},"r":"__proto__"${TAIL}`;
    expect(['shape', 'proto']).toContain(readEntry(`~${BODY.length}:${BODY}${own}`, undefined));
    const inside = `{"v":{"b":null,"x":{"__proto__":{"polluted":true}}},"r":"b"${TAIL}`;
    expect(readEntry(`~${BODY.length}:${BODY}${inside}`, undefined)).toBe('proto');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('round-trips through a store and L2: the value read is the value written', async () => {
    const store = new MemoryStore();
    const writer = tieredOver(store);
    const bucket = { at: AS_OF, b: BODY, meta: { days: 21 } };
    expect(await writer.set('market_data:raw', bucket)).toBe(true);
    const stored = await store.get(new CacheKeyBuilder('raw').storageKey('market_data:raw'));
    expect(stored?.startsWith(`~${BODY.length}:${BODY}{`)).toBe(true);
    const reader = tieredOver(store);
    expect((await reader.get('market_data:raw'))?.value).toEqual(bucket);
    const [many] = await reader.getMany<typeof bucket>(['market_data:raw']);
    expect(many?.b).toBe(BODY);
  });
});
