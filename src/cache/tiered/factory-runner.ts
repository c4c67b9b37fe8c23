import { performance } from 'node:perf_hooks';
import type { CacheKeyType } from '../keys/cache-key-type.js';
import type { CacheStats } from './cache-stats.js';
import type { Factory, FactoryContext } from './tiered-cache.options.js';
import { CacheAttr, CacheSpan, activeTracer, traced } from './tracing.js';

/** Outcome of racing a factory against its soft and hard timeouts. */
export type RaceOutcome<T> =
  | { kind: 'value'; value: T }
  | { kind: 'error'; error: unknown }
  | { kind: 'soft-timeout' }
  | { kind: 'hard-timeout' };

/**
 * Races `work` against an optional soft timeout and a hard timeout (both in ms). The work is
 * never abandoned: it keeps running after a timeout, and its rejection is always observed, so
 * background work can never surface as an unhandled rejection.
 */
export function raceFactory<T>(
  work: Promise<T>,
  softTimeoutMs: number | undefined,
  hardTimeoutMs: number,
): Promise<RaceOutcome<T>> {
  return new Promise((resolve) => {
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (outcome: RaceOutcome<T>) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      resolve(outcome);
    };
    work.then(
      (value) => finish({ kind: 'value', value }),
      (error: unknown) => finish({ kind: 'error', error }),
    );
    if (softTimeoutMs !== undefined && softTimeoutMs < hardTimeoutMs)
      timers.push(setTimeout(() => finish({ kind: 'soft-timeout' }), softTimeoutMs));
    timers.push(setTimeout(() => finish({ kind: 'hard-timeout' }), hardTimeoutMs));
  });
}

/** Calls `factory` with its context, turning a synchronous throw into a rejected promise. */
export function startFactory<T>(factory: Factory<T>, context: FactoryContext): Promise<T> {
  try {
    return Promise.resolve(factory(context));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Calls `factory` with `context` as one observed run (`kind`: on a `miss`, or a background `refresh`): inside a
 * `market-cache.factory` span when tracing is on (the active span while it runs, so the factory's
 * own cache calls nest under it), and its duration reported to `stats.factoryRan` when something
 * listens (metrics). Answers the factory's promise.
 */
export function observedFactory<T>(
  factory: Factory<T>,
  keyType: CacheKeyType | undefined,
  kind: 'miss' | 'refresh',
  stats: CacheStats,
  context: FactoryContext = { kind },
): Promise<T> {
  const started = performance.now();
  const tracer = activeTracer();
  const work =
    tracer === undefined
      ? startFactory(factory, context)
      : traced(
          tracer,
          CacheSpan.factory,
          {
            [CacheAttr.operation]: 'factory',
            [CacheAttr.keyType]: keyType ?? 'other',
            [CacheAttr.tier]: 'factory',
            [CacheAttr.factoryKind]: kind,
          },
          () => startFactory(factory, context),
          (span) => span.setAttribute(CacheAttr.outcome, 'ok'),
          'factory',
        );
  if (stats.observesFactoryRuns)
    work.then(
      () => stats.factoryRan(keyType, kind, (performance.now() - started) / 1000, true),
      () => stats.factoryRan(keyType, kind, (performance.now() - started) / 1000, false),
    );
  return work;
}
