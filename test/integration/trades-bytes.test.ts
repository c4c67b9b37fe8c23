/**
 * Issue 10, "bytes, not objects", for trades: the parts of a trades range are stored as NDJSON
 * text with a count and a hash, and a warm answer writes that text as it is. Checked through
 * `TradesService` on the harness Redis: byte identity with the cold answer, the text passed on
 * untouched, each defect of a stored part caught (that day fetched again, counted corrupt), parts
 * of the earlier array encoding still served, and chunks of `tradesWriteRows` lines.
 */
import { CacheKeyType } from '../../src/cache/keys/cache-key-type.js';
import { CacheTTLPolicy } from '../../src/cache/keys/cache-ttl-policy.js';
import { hashFragment } from '../../src/cache/range/fragment-bucket.js';
import { marketSettings } from '../../src/market/market.options.js';
import type { Trade, TradeFilters } from '../../src/market/providers/market-data.provider.js';
import { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';
import {
  TradesService,
  normalizeTradeFilters,
  tradeSignature,
  type TradesQuery,
} from '../../src/market/trades.service.js';
import { testRedis } from '../harness/test-env.js';
import { createCacheContext, uniquePrefix, type CacheContext } from '../support/cache-context.js';

const TODAY = '2024-06-28';
/** Parts of 4 trades and chunks of 3 lines: 2 tickers × 5 trades make 3 parts a day (4, 4, 2). */
const PART_SIZE = 4;
const WRITE_ROWS = 3;
const QUERY: TradesQuery = {
  filters: { tickers: ['MSFT', 'AAPL'] },
  from: '2024-06-03',
  to: '2024-06-14',
};
/** A trading day in the middle of `QUERY`. */
const DAY = '2024-06-11';

let ctx: CacheContext;
let provider: SyntheticMarketDataProvider;
let service: TradesService;
/** Ranges the source was asked for, in order. */
const calls: Array<[string, string]> = [];

beforeAll(async () => {
  ctx = await createCacheContext({ redisUrl: testRedis().url, keyPrefix: uniquePrefix('tb') });
  provider = new SyntheticMarketDataProvider({
    tickers: ['AAPL', 'MSFT'],
    tradesPerTickerDay: 5,
    today: () => TODAY,
  });
  const real = provider.streamTrades.bind(provider);
  provider.streamTrades = (filters: TradeFilters, from: string, to: string) => {
    calls.push([from, to]);
    return real(filters, from, to);
  };
  const settings = marketSettings(
    { maxBarsRangeDays: 3660, maxTradesRangeDays: 366 },
    { today: () => TODAY, tradesPartSize: PART_SIZE, tradesWriteRows: WRITE_ROWS },
  );
  service = new TradesService(ctx.cache, new CacheTTLPolicy(), provider, settings);
});

afterAll(async () => {
  await ctx?.close();
});

beforeEach(async () => {
  await ctx.cache.flushPattern('market_data:*');
  ctx.tiered.l1.clear();
  calls.length = 0;
});

const signature = tradeSignature(normalizeTradeFilters(QUERY.filters));
const partKey = (date: string, part: number) => ctx.cache.keys.tradeDay(signature, date, part);
const corrupt = () => ctx.tiered.stats.of(CacheKeyType.MARKET_DATA).corrupt;

/** One answer of the service: its coverage, its chunks, and the body after the meta line. */
async function read(query: TradesQuery = QUERY) {
  const answer = await service.open(query);
  const chunks: string[] = [];
  for await (const chunk of answer.chunks()) chunks.push(chunk);
  const text = chunks.join('');
  return { status: answer.status, chunks: chunks.slice(1), body: text.slice(chunks[0].length) };
}

/** A cold answer of `QUERY`, its write-back done, L1 emptied and the source calls forgotten. */
async function coldThenForget() {
  const cold = await read();
  expect(cold.status).toBe('miss');
  await ctx.tiered.drain();
  ctx.tiered.l1.clear();
  calls.length = 0;
  return cold;
}

/** The trades of `QUERY` straight from the source (not recorded as a call). */
async function sourceTrades(from = QUERY.from, to = QUERY.to): Promise<Trade[]> {
  const out: Trade[] = [];
  const filters = normalizeTradeFilters(QUERY.filters);
  for await (const t of provider.streamTrades(filters, from, to)) out.push(t);
  calls.length = 0;
  return out;
}

/** Replaces a stored value (through the cache, so in its envelope), then empties L1. */
async function plant(key: string, value: unknown): Promise<void> {
  await ctx.cache.pipelineSet([{ key, value, ttl: 3600, keyType: CacheKeyType.MARKET_DATA }]);
  await ctx.tiered.drain();
  ctx.tiered.l1.clear();
}

interface StoredPart {
  n: number;
  h: string;
  t: string;
}

async function storedPart(date: string, part: number): Promise<StoredPart> {
  const [value] = await ctx.cache.pipelineGet<StoredPart>([partKey(date, part)]);
  return value as StoredPart;
}

describe('trades parts stored as NDJSON text', () => {
  it('answers a warm stream from text parts byte-identical to the cold stream of the same query, without the source', async () => {
    const expected = (await sourceTrades()).map((t) => JSON.stringify(t) + '\n').join('');
    const cold = await coldThenForget();
    expect(cold.body).toBe(expected);

    // What Redis holds: each part's NDJSON text, its count and its hash.
    const part = await storedPart(DAY, 0);
    expect(part).toEqual({ n: PART_SIZE, h: hashFragment(part.t), t: expect.any(String) });
    const dayLines = expected.split('\n').filter((l) => l.includes(`"tradeDate":"${DAY}"`));
    expect(part.t).toBe(dayLines.slice(0, PART_SIZE).join('\n') + '\n');

    const fromRedis = await read();
    expect(fromRedis.status).toBe('hit');
    expect(fromRedis.body).toBe(cold.body);
    const fromL1 = await read();
    expect(fromL1.body).toBe(cold.body);
    expect(calls).toEqual([]);
  });

  it("writes a stored part's text as it is: nothing parsed, nothing serialized again", async () => {
    const cold = await coldThenForget();
    const part = await storedPart(DAY, 1);
    // The same trades in other (valid, equivalent) JSON spelling, with its own hash.
    const t = part.t.replaceAll('{"tradeId":', '{ "tradeId" : ');
    expect(t).not.toBe(part.t);
    await plant(partKey(DAY, 1), { n: part.n, h: hashFragment(t), t });

    const warm = await read();
    expect(warm.body).toBe(cold.body.replace(part.t, t));
    expect(calls).toEqual([]);
  });

  /** Each defect is one a single check catches: the others pass on it. */
  const defects: Array<[string, (p: StoredPart) => StoredPart]> = [
    [
      'a hash that is not the text’s',
      (p) => ({
        ...p,
        t: p.t.replace(/"quantity":(\d+)/, (_, q: string) => `"quantity":${Number(q) + 1}`),
      }),
    ],
    ['a count that is not the index’s', (p) => ({ ...p, n: p.n - 1 })],
    [
      'a text of more lines than its count',
      (p) => {
        const t = p.t + p.t.slice(0, p.t.indexOf('\n') + 1);
        return { ...p, h: hashFragment(t), t };
      },
    ],
    [
      'a text that does not end with a newline',
      (p) => {
        // Still `n` newlines: the last one moved inside the last line.
        const t = `${p.t.slice(0, -2)}\n${p.t.slice(-2, -1)}`;
        return { ...p, h: hashFragment(t), t };
      },
    ],
  ];

  it.each(defects)(
    'counts a part with %s as corrupt and fetches that day again, serving no trade twice',
    async (_defect, spoil) => {
      const cold = await coldThenForget();
      const part = await storedPart(DAY, 1);
      const spoilt = spoil(part);
      expect(spoilt).not.toEqual(part);
      await plant(partKey(DAY, 1), spoilt);
      const before = corrupt();

      const warm = await read();
      expect(warm.status).toBe('hit');
      expect(warm.body).toBe(cold.body);
      expect(calls).toEqual([[DAY, DAY]]);
      expect(corrupt() - before).toBe(1);

      // The day was written again: served from Redis next time, nothing corrupt.
      await ctx.tiered.drain();
      ctx.tiered.l1.clear();
      calls.length = 0;
      expect((await read()).body).toBe(cold.body);
      expect(calls).toEqual([]);
      expect(corrupt() - before).toBe(1);
    },
  );

  it('still serves days stored by the previous version (parts as JSON arrays) without a fetch, next to text parts', async () => {
    const cold = await coldThenForget();
    await ctx.cache.flushPattern('market_data:*');
    ctx.tiered.l1.clear();
    // The first week as the previous version wrote it: an index per day, parts as arrays.
    const week = await sourceTrades(QUERY.from, '2024-06-07');
    const at = Date.now();
    const entries = [];
    for (let d = 3; d <= 7; d++) {
      const date = `2024-06-0${d}`;
      const items = week.filter((t) => t.tradeDate === date);
      const parts = Math.ceil(items.length / PART_SIZE);
      entries.push({
        key: ctx.cache.keys.tradeDay(signature, date),
        value: { at, count: items.length, parts },
      });
      for (let p = 0; p < parts; p++)
        entries.push({
          key: partKey(date, p),
          value: items.slice(p * PART_SIZE, (p + 1) * PART_SIZE),
        });
    }
    await ctx.cache.pipelineSet(
      entries.map((e) => ({ ...e, ttl: 3600, keyType: CacheKeyType.MARKET_DATA })),
    );
    await ctx.tiered.drain();
    ctx.tiered.l1.clear();
    const before = corrupt();

    const partial = await read();
    expect(partial.status).toBe('partial');
    expect(calls).toEqual([['2024-06-08', QUERY.to]]);
    expect(partial.body).toBe(cold.body);

    // Array parts and text parts side by side, all from Redis.
    await ctx.tiered.drain();
    ctx.tiered.l1.clear();
    calls.length = 0;
    expect(Array.isArray((await ctx.cache.pipelineGet([partKey('2024-06-05', 0)]))[0])).toBe(true);
    const warm = await read();
    expect(warm.status).toBe('hit');
    expect(warm.body).toBe(cold.body);
    expect(calls).toEqual([]);
    expect(corrupt()).toBe(before);
  });

  it('writes a warm answer in chunks of tradesWriteRows lines, whatever the size of the stored parts', async () => {
    const cold = await coldThenForget();
    const warm = await read();
    const lines = (s: string) => s.split('\n').length - 1;
    expect(
      warm.chunks
        .map(lines)
        .slice(0, -1)
        .every((n) => n === WRITE_ROWS),
    ).toBe(true);
    expect(lines(warm.chunks[warm.chunks.length - 1])).toBeLessThanOrEqual(WRITE_ROWS);
    expect(warm.chunks.every((c) => c.endsWith('\n'))).toBe(true);
    expect(warm.chunks.join('')).toBe(cold.body);
  });

  it('parses the stored text for includeEvents, and answers the same lines as the cold stream', async () => {
    const query = { ...QUERY, includeEvents: true };
    const cold = await read(query);
    await ctx.tiered.drain();
    ctx.tiered.l1.clear();
    calls.length = 0;
    const warm = await read(query);
    expect(warm.status).toBe('hit');
    expect(calls).toEqual([]);
    expect(warm.body).toBe(cold.body);
    const first = JSON.parse(warm.body.slice(0, warm.body.indexOf('\n'))) as { events: unknown[] };
    expect(first.events.length).toBeGreaterThan(0);
  });
});
