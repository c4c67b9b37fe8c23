/**
 * The NDJSON writer shares the event loop (issue 12): a stream whose chunks never wait on I/O
 * (cached data, a client that reads as fast as it is written) still lets other callbacks run,
 * and concurrent streams take turns. Time is a fake clock advanced by the chunks themselves; the
 * assertions are about event order only.
 */
import { Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { LoopBudget, StreamGate, writeChunked } from '../../src/market/ndjson-writer.js';

/** A response that never pushes back (every write is accepted at once), like a fast reader on loopback. */
class EagerResponse extends EventEmitter {
  statusCode = 0;
  destroyed = false;
  writableEnded = false;
  readonly written: string[] = [];
  setHeader(): void {}
  write(text: string): boolean {
    this.written.push(text);
    return true;
  }
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

const log = new Logger('test');

/** A fake clock (ms) that the chunk producers advance: each chunk "costs" `msPerChunk`. */
function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** `count` chunks, each already available (no I/O), each costing `msPerChunk` on the clock and logging `label`. */
async function* chunksOf(
  label: string,
  count: number,
  advance: (ms: number) => void,
  events: string[],
  msPerChunk = 1,
): AsyncGenerator<string, void, undefined> {
  for (let i = 0; i < count; i++) {
    advance(msPerChunk);
    events.push(label);
    yield `${label}${i}\n`;
  }
}

async function send(
  label: string,
  count: number,
  clock: ReturnType<typeof fakeClock>,
  events: string[],
  budget: LoopBudget | undefined,
): Promise<EagerResponse> {
  const res = new EagerResponse();
  await writeChunked(
    res as unknown as ServerResponse,
    chunksOf(label, count, clock.advance, events),
    {},
    log,
    budget,
  );
  events.push(`${label}:end`);
  return res;
}

describe('writeChunked on a LoopBudget', () => {
  it('lets a callback queued when a cached stream starts run long before the stream ends', async () => {
    const clock = fakeClock();
    const events: string[] = [];
    const budget = new LoopBudget(3, clock.now);
    const done = send('a', 200, clock, events, budget);
    setImmediate(() => events.push('other'));
    const res = await done;
    const other = events.indexOf('other');
    expect(other).toBeGreaterThan(-1);
    // At most one slice (3 ms at 1 ms per chunk, plus the two head chunks) ran before it.
    expect(other).toBeLessThanOrEqual(6);
    expect(events.indexOf('a:end')).toBeGreaterThan(other);
    expect(res.written).toHaveLength(200);
    expect(res.written.join('')).toBe(Array.from({ length: 200 }, (_, i) => `a${i}\n`).join(''));
    expect(res.writableEnded).toBe(true);
  });

  it('gives concurrent streams one shared slice per turn: a queued callback waits for one slice, not one per stream', async () => {
    const clock = fakeClock();
    const events: string[] = [];
    const budget = new LoopBudget(4, clock.now);
    const all = Promise.all(['a', 'b', 'c'].map((label) => send(label, 60, clock, events, budget)));
    setImmediate(() => events.push('other'));
    const [a, b, c] = await all;
    for (const [label, res] of [
      ['a', a],
      ['b', b],
      ['c', c],
    ] as const)
      expect(res.written.join('')).toBe(
        Array.from({ length: 60 }, (_, i) => `${label}${i}\n`).join(''),
      );
    const other = events.indexOf('other');
    expect(other).toBeGreaterThan(-1);
    // One slice (4 chunks at 1 ms each) plus the head chunks (2 per stream) ran before it.
    expect(other).toBeLessThanOrEqual(4 + 3 * 2);
    // Afterwards the streams keep taking turns of about one slice each.
    const later = events.slice(other + 1).filter((e) => !e.endsWith(':end'));
    let longest = 0;
    for (let i = 0, run = 0; i < later.length; i++) {
      run = i > 0 && later[i] === later[i - 1] ? run + 1 : 1;
      longest = Math.max(longest, run);
    }
    expect(longest).toBeLessThanOrEqual(5);
  });

  it('without a budget a cached stream holds the loop to the end (the behaviour the budget fixes)', async () => {
    const clock = fakeClock();
    const events: string[] = [];
    const done = send('a', 50, clock, events, undefined);
    setImmediate(() => events.push('other'));
    await done;
    expect(events.indexOf('other')).toBe(-1); // still queued when the stream ended
    await new Promise((r) => setImmediate(r));
    expect(events.at(-1)).toBe('other');
  });
});

describe('StreamGate', () => {
  it('admits maxConcurrent streams, refuses the next, and frees a slot once per release', () => {
    const gate = new StreamGate(2, 3, 1);
    const r1 = gate.tryEnter();
    const r2 = gate.tryEnter();
    expect(r1).toBeDefined();
    expect(r2).toBeDefined();
    expect(gate.tryEnter()).toBeUndefined();
    expect(gate.active).toBe(2);
    r1?.();
    r1?.(); // idempotent
    expect(gate.active).toBe(1);
    const r3 = gate.tryEnter();
    expect(r3).toBeDefined();
    expect(gate.tryEnter()).toBeUndefined();
    r2?.();
    r3?.();
    expect(gate.active).toBe(0);
  });

  it('has no limit at 0', () => {
    const gate = new StreamGate(0, 3, 1);
    for (let i = 0; i < 100; i++) expect(gate.tryEnter()).toBeDefined();
    expect(gate.active).toBe(100);
  });
});
