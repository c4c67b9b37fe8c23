/**
 * Concurrent calls for one key share one running promise (in this process): the first call starts
 * the work, later calls get the same promise until it settles, and the next call after that starts
 * anew. Nothing is remembered past settling.
 */
export class SingleFlight<V> {
  private readonly running = new Map<string, Promise<V>>();

  /** The running work for `key`, or `work()` started now and shared until it settles. */
  run(key: string, work: () => Promise<V>): Promise<V> {
    const running = this.running.get(key);
    if (running) return running;
    const started = work().finally(() => this.running.delete(key));
    this.running.set(key, started);
    return started;
  }
}
