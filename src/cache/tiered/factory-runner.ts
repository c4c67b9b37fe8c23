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

/** Calls `factory`, turning a synchronous throw into a rejected promise. */
export function startFactory<T>(factory: () => Promise<T> | T): Promise<T> {
  try {
    return Promise.resolve(factory());
  } catch (e) {
    return Promise.reject(e);
  }
}
