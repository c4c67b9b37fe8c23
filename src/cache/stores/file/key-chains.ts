/**
 * Per-key mutation chains: tasks queued for one key run one after another, in call order, so that
 * the index always agrees with the disk and a read-modify-write (`increment`) is atomic within the
 * process. Tasks of different keys run concurrently. A task never awaits another key's chain, so
 * chains cannot deadlock.
 */
export class KeyChains {
  /** Tail of each key's chain, by key hash. */
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` after every earlier task queued for the same key hash; answers its outcome. */
  run<T>(hash: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(hash) ?? Promise.resolve();
    const result = previous.then(task);
    // The chain only orders tasks; each task's outcome reaches its caller through `result`.
    const tail = result.then(noop, noop);
    this.tails.set(hash, tail);
    void tail.then(() => {
      if (this.tails.get(hash) === tail) this.tails.delete(hash);
    });
    return result;
  }
}

function noop(): void {
  // Deliberately nothing: see `run`.
}
