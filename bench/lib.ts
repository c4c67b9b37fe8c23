/** Shared measuring helpers for `npm run bench` (a script, never a test). */
import { performance } from 'node:perf_hooks';
import { isEntryPoint } from '../src/market/providers/entry-point.js';

/** One measured line of a benchmark table. */
export interface BenchRow {
  section: string;
  name: string;
  opsPerSec: number;
  /** Median latency of one operation, in microseconds. */
  p50Us: number;
  /** 99th percentile latency of one operation, in microseconds. */
  p99Us: number;
  note?: string;
}

/** How to run one measurement. */
export interface MeasureOptions {
  /** Total operations to time. */
  ops: number;
  /** Operations kept in flight at once (1 = awaited one at a time). */
  concurrency?: number;
  /** Untimed operations run first. Default: 10% of ops. */
  warmup?: number;
  /**
   * Least time the untimed warm-up lasts, in ms (more operations are run until it has, at most
   * 4 × `ops` more): a path reaches its steady state only after some thousand calls (V8
   * optimizes it and settles where its allocations live; before that, a five-year range read
   * from Redis ran at half its steady rate, its young-generation collections copying 3 MB
   * each). A server runs at its steady state; every line is measured there. Default 2000;
   * 0 = `warmup` operations only.
   */
  warmupMs?: number;
  /** Time every n-th operation only (for sub-microsecond operations, where the clock costs more than the work). Default 1. */
  sampleEvery?: number;
}

/** Default least warm-up time of `measure`, in ms. */
const DEFAULT_WARMUP_MS = 2000;

/** Collects garbage when the process runs with `--expose-gc`. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * The untimed warm-up of `measure` and `measurePaired`: `step(i)` (which answers how many
 * operations it ran) at least `warmup` times, and on until `warmupMs` has passed (at most
 * 4 × `ops` more); then a collected heap (when run with --expose-gc, as `npm run bench` is), so
 * the garbage of the line before is not charged to the timed one.
 */
async function warmUp(
  warmup: number,
  ops: number,
  warmupMs: number | undefined,
  step: (i: number) => Promise<number>,
): Promise<void> {
  const until = performance.now() + (warmupMs ?? DEFAULT_WARMUP_MS);
  const most = warmup + 4 * ops;
  for (let i = 0; i < warmup || (performance.now() < until && i < most);) i += await step(i);
  collectGarbage();
}

/**
 * Times `op` `ops` times with `concurrency` in flight and answers ops/s with p50/p99 latency.
 * With concurrency > 1 each batch of `concurrency` operations is started together and awaited.
 */
export async function measure(
  section: string,
  name: string,
  op: (i: number) => Promise<unknown>,
  options: MeasureOptions,
): Promise<BenchRow> {
  const concurrency = options.concurrency ?? 1;
  const warmup = options.warmup ?? Math.ceil(options.ops / 10);
  await warmUp(warmup, options.ops, options.warmupMs, async (i) => {
    const n = i < warmup ? Math.min(concurrency, warmup - i) : concurrency;
    await Promise.all(Array.from({ length: n }, (_, j) => op(i + j)));
    return n;
  });
  const sampleEvery = options.sampleEvery ?? 1;
  const latencies = new Float64Array(
    concurrency === 1 ? Math.ceil(options.ops / sampleEvery) : options.ops,
  );
  const start = performance.now();
  if (concurrency === 1 && sampleEvery > 1) {
    for (let i = 0; i < options.ops; i++) {
      if (i % sampleEvery === 0) {
        const t0 = performance.now();
        await op(i);
        latencies[i / sampleEvery] = performance.now() - t0;
      } else await op(i);
    }
  } else if (concurrency === 1) {
    for (let i = 0; i < options.ops; i++) {
      const t0 = performance.now();
      await op(i);
      latencies[i] = performance.now() - t0;
    }
  } else {
    for (let i = 0; i < options.ops; i += concurrency) {
      const n = Math.min(concurrency, options.ops - i);
      const batch: Promise<void>[] = new Array(n);
      for (let j = 0; j < n; j++) {
        const t0 = performance.now();
        batch[j] = op(i + j).then(() => {
          latencies[i + j] = performance.now() - t0;
        });
      }
      await Promise.all(batch);
    }
  }
  const elapsedMs = performance.now() - start;
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  return {
    section,
    name,
    opsPerSec: (options.ops / elapsedMs) * 1000,
    p50Us: sorted[Math.floor(sorted.length * 0.5)] * 1000,
    p99Us: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] * 1000,
  };
}

/** How `measurePaired` runs its cases. */
export interface PairedOptions {
  /** Least untimed rounds first. Default: 10% of ops. */
  warmup?: number;
  /** Least time the warm-up lasts, in ms, as in `measure` (at most 4 × `ops` more rounds). Default 2000. */
  warmupMs?: number;
  /**
   * Operations of one case run back to back before the next case takes its turn. Default 1
   * (every round runs each case once). Blocks of a few dozen keep the cases side by side on the
   * machine's busy and quiet moments (a block lasts milliseconds) without timing each case
   * right after the other's garbage and cache misses.
   */
  block?: number;
}

/**
 * Times several awaited-one-at-a-time operations side by side: every round runs each case (one
 * operation, or a block of them) in rotating order and times each operation, so a slower or
 * faster machine moment hits every case alike. ops/s is 1 / mean latency; p50/p99 per case.
 */
export async function measurePaired(
  section: string,
  cases: { name: string; op: (i: number) => Promise<unknown> }[],
  ops: number,
  options: PairedOptions = {},
): Promise<BenchRow[]> {
  const warmup = options.warmup ?? Math.ceil(ops / 10);
  const block = Math.max(1, Math.floor(options.block ?? 1));
  await warmUp(warmup, ops, options.warmupMs, async (i) => {
    for (const c of cases) await c.op(i);
    return 1;
  });
  const latencies = cases.map(() => new Float64Array(ops));
  for (let first = 0, round = 0; first < ops; first += block, round++) {
    const last = Math.min(ops, first + block);
    for (let j = 0; j < cases.length; j++) {
      const k = (round + j) % cases.length;
      for (let i = first; i < last; i++) {
        const t0 = performance.now();
        await cases[k].op(i);
        latencies[k][i] = performance.now() - t0;
      }
    }
  }
  const note =
    block === 1
      ? 'paired: each iteration runs every case once'
      : `paired: blocks of ${block} of each case in turn`;
  return cases.map((c, k) => {
    const sorted = Array.from(latencies[k]).sort((a, b) => a - b);
    const meanMs = sorted.reduce((a, b) => a + b, 0) / sorted.length;
    return {
      section,
      name: c.name,
      opsPerSec: 1000 / meanMs,
      p50Us: sorted[Math.floor(sorted.length * 0.5)] * 1000,
      p99Us: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] * 1000,
      note,
    };
  });
}

/** A JSON body like a year of daily bars for one ticker (`count` bars, about 90 bytes each). */
export function barsPayload(count = 252): Record<string, unknown> {
  const bars = [];
  let close = 150;
  for (let i = 0; i < count; i++) {
    const open = close * (1 + Math.sin(i) * 0.01);
    close = open * (1 + Math.cos(i * 1.3) * 0.012);
    const day = new Date(Date.UTC(2025, 0, 2) + i * 86_400_000).toISOString().slice(0, 10);
    bars.push({
      date: day,
      open: +open.toFixed(2),
      high: +(Math.max(open, close) * 1.006).toFixed(2),
      low: +(Math.min(open, close) * 0.994).toFixed(2),
      close: +close.toFixed(2),
      volume: 40_000_000 + ((i * 7919) % 9_000_000),
    });
  }
  return {
    ticker: 'AAPL',
    from: bars[0].date,
    to: bars[bars.length - 1].date,
    asOf: '2026-11-20T21:00:00.000Z',
    bars,
  };
}

/** Formats rows as a Markdown table, with each row's ratio to the section's first row. */
export function formatTable(rows: BenchRow[]): string {
  const out = [
    '| section | case | ops/s | p50 µs | p99 µs | × first in section | note |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  const firstOf = new Map<string, number>();
  for (const r of rows) {
    if (!firstOf.has(r.section)) firstOf.set(r.section, r.opsPerSec);
    const ratio = r.opsPerSec / (firstOf.get(r.section) ?? r.opsPerSec);
    out.push(
      `| ${r.section} | ${r.name} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${r.p50Us.toFixed(1)} | ${r.p99Us.toFixed(1)} | ${ratio.toFixed(2)} | ${r.note ?? ''} |`,
    );
  }
  return out.join('\n');
}

/** A JSON value of about `bytes` bytes shaped like a market quote. */
export function quotePayload(bytes = 1024): Record<string, unknown> {
  const base = {
    ticker: 'AAPL',
    open: 189.12,
    high: 191.5,
    low: 188.7,
    close: 190.33,
    volume: 53_123_456,
    asOf: '2026-11-20T21:00:00.000Z',
  };
  const pad = Math.max(0, bytes - JSON.stringify(base).length - 12);
  return { ...base, notes: 'x'.repeat(pad) };
}

/** Runs a bench section when its file is the script node was started with: prints its table, exit code 1 on failure. */
export function runBenchScript(importMetaUrl: string, run: () => Promise<BenchRow[]>): void {
  if (!isEntryPoint(importMetaUrl)) return;
  run().then(
    (rows) => {
      console.log(formatTable(rows));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/**
 * Entry of a bench file whose cases run in forked children (one fresh process per case): started
 * with `childFlag` first, it runs `runChild(args)` and hands its row to the parent (or prints it when
 * run by hand); otherwise it runs the whole section as `runBenchScript` does.
 */
export function runForkedBenchScript(
  importMetaUrl: string,
  childFlag: string,
  runChild: (args: string[]) => Promise<BenchRow>,
  run: () => Promise<BenchRow[]>,
): void {
  if (!isEntryPoint(importMetaUrl)) return;
  if (process.argv[2] !== childFlag) return runBenchScript(importMetaUrl, run);
  runChild(process.argv.slice(3)).then(
    (row) => {
      if (process.send) process.send(row, () => process.exit(0));
      else {
        console.log(formatTable([row]));
        process.exit(0);
      }
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
