/**
 * Rejects with `message` when `promise` has not settled within `ms` milliseconds. The promise
 * keeps running; a late rejection is observed (the caller's client retries or reports it), and the
 * timer never holds the process open.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  promise.catch(() => undefined); // observed here so a rejection after the timeout is never unhandled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
