/** Background promises kept until they settle, so that shutdown can wait for them. */
export class BackgroundTasks {
  private readonly pending = new Set<Promise<unknown>>();

  /** @param onError called with the reason of a tracked promise that rejects (it never propagates). */
  constructor(private readonly onError: (e: unknown) => void = () => undefined) {}

  /** Keeps `p` until it settles; a rejection goes to `onError`, never to the caller. */
  track(p: Promise<unknown>): void {
    const guarded = p.catch(this.onError);
    this.pending.add(guarded);
    void guarded.finally(() => this.pending.delete(guarded));
  }

  /** Resolves once every tracked promise, including those tracked meanwhile, has settled. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
