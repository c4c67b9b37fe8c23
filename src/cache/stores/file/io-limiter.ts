import { positiveInteger } from '../../util/arguments.js';

/**
 * A counting semaphore for asynchronous I/O: at most `limit` tasks run at once, the rest wait
 * in FIFO order. Used by `FileStore` so that a burst of cache calls cannot exhaust file
 * descriptors or flood libuv's thread pool.
 */
export class IoLimiter {
  private active = 0;
  /** Waiting tasks' wake-up callbacks; `head` is the next one to wake (avoids O(n) `shift`). */
  private queue: (() => void)[] = [];
  private head = 0;

  /** @param limit tasks allowed in flight at once (a positive integer). */
  constructor(readonly limit: number) {
    positiveInteger(limit, 'maxConcurrentIo');
  }

  /** Tasks currently running. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Runs `task` when a slot is free and answers its result; the slot is freed however it settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /** Hands the slot to the next waiter (the count stays), or frees it. */
  private release(): void {
    if (this.head < this.queue.length) {
      const next = this.queue[this.head];
      this.head++;
      // Drop the consumed prefix once drained (or when it dominates), so the array stays small.
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      next();
    } else {
      this.active--;
    }
  }
}
