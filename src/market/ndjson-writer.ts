import type { Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { errorSummary } from '../cache/index.js';

/**
 * Shares the event loop between streamed responses: a stream may run synchronously (reading
 * cached days, rendering, writing) for at most `sliceMs` per turn of the event loop; past that
 * it waits for a later turn (`setImmediate`), after pending I/O (other requests, probes) ran.
 * Waiting streams resume one per turn, in arrival order (round robin), so N concurrent streams
 * still hold the loop for about one slice per turn, not N. Used by one process-wide instance.
 */
export class LoopBudget {
  private sliceStart: number;
  private readonly waiting: Array<() => void> = [];
  private scheduled = false;

  constructor(
    readonly sliceMs: number,
    /** Monotonic clock in ms (tests pass their own). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.sliceStart = now();
  }

  /** Undefined while the current slice has time left; else a promise resolved on a later turn of the event loop. */
  pause(): Promise<void> | undefined {
    if (this.now() - this.sliceStart < this.sliceMs) return undefined;
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.turn);
  }

  /** One turn: a fresh slice for the longest-waiting stream; the others wait for the next turns. */
  private readonly turn = (): void => {
    this.scheduled = false;
    this.sliceStart = this.now();
    const next = this.waiting.shift();
    if (this.waiting.length > 0) this.schedule();
    next?.();
  };
}

/**
 * The per-instance limit on concurrent streamed responses, and the loop budget they share.
 * `tryEnter` answers a release function, or undefined when `maxConcurrent` streams already run
 * (the caller answers 503 with `Retry-After: retryAfterSeconds`).
 */
export class StreamGate {
  /** The loop budget every stream of this gate writes under. */
  readonly budget: LoopBudget;
  private running = 0;

  constructor(
    /** Most concurrent streams; 0 = no limit. */
    readonly maxConcurrent: number,
    sliceMs: number,
    /** Seconds a refused client is told to wait. */
    readonly retryAfterSeconds: number,
  ) {
    this.budget = new LoopBudget(sliceMs);
  }

  /** Streams running now. */
  get active(): number {
    return this.running;
  }

  /** Takes a slot: the release function (idempotent), or undefined when the gate is full. */
  tryEnter(): (() => void) | undefined {
    if (this.maxConcurrent > 0 && this.running >= this.maxConcurrent) return undefined;
    this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
    };
  }
}

/**
 * Regroups NDJSON text (pieces of whole lines, each ending with `\n`) into chunks of `rows`
 * lines, so a stream writes about the same number of lines per chunk (and so per turn of its
 * `LoopBudget`) whatever the size of the pieces it reads: stored parts, source chunks, small days.
 */
export class LineBatcher {
  private pieces: string[] = [];
  private lines = 0;

  constructor(
    /** Lines per chunk (≥ 1). */
    readonly rows: number,
  ) {}

  /** Adds whole lines; answers the chunks of `rows` lines they complete, in order. */
  push(text: string): string[] {
    const out: string[] = [];
    let from = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
      if (++this.lines < this.rows) continue;
      this.pieces.push(text.slice(from, i + 1));
      out.push(this.pieces.length === 1 ? this.pieces[0] : this.pieces.join(''));
      this.pieces = [];
      this.lines = 0;
      from = i + 1;
    }
    if (from < text.length) this.pieces.push(from === 0 ? text : text.slice(from));
    return out;
  }

  /** The last chunk, of fewer than `rows` lines; undefined when nothing is left. */
  flush(): string | undefined {
    const rest = this.pieces.join('');
    this.pieces = [];
    this.lines = 0;
    return rest.length ? rest : undefined;
  }
}

/**
 * Sends text chunks as a streamed response, respecting backpressure (waits for `drain`), and
 * stops reading (closing the source) when the client goes away. Between chunks it yields the
 * event loop on `budget` (see `LoopBudget`): cached data never waits on I/O, so without this a
 * warm stream would hold the loop until the socket is full.
 *
 * The status and `headers` are sent only once the first two chunks (the meta line and the first
 * data chunk, or the end) are ready, so a source that fails at once still reaches the exception
 * filter as a proper error status. A failure after that ends the response abruptly (the client
 * sees a truncated chunked body) and is logged without payload.
 */
export async function writeChunked(
  res: ServerResponse,
  chunks: AsyncGenerator<string, void, undefined>,
  headers: Record<string, string>,
  log: Logger,
  budget?: LoopBudget,
): Promise<void> {
  let started = false;
  try {
    const head: string[] = [];
    for (let i = 0; i < 2; i++) {
      const next = await chunks.next();
      if (next.done) break;
      head.push(next.value);
    }
    res.statusCode = 200;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    started = true;
    for (const text of head) if (!(await write(res, text))) return;
    for (;;) {
      const turn = budget?.pause();
      if (turn) await turn;
      const next = await chunks.next();
      if (next.done) break;
      if (!(await write(res, next.value))) return;
    }
    res.end();
  } catch (err) {
    if (!started) throw err;
    log.warn(`streamed response failed after it started: ${errorSummary(err)}`);
    res.destroy();
  } finally {
    // Closes the source (and writes back the days completed so far) when we stopped early.
    await chunks.return(undefined);
  }
}

/** Writes one chunk; resolves false when the client went away (before or while waiting for `drain`). */
function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(text)) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
