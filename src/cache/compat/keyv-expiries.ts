/** Most expiries remembered by `KeyvExpiries` (the oldest is forgotten first). */
export const REMEMBERED_EXPIRIES = 10_000;

/**
 * The real expiry (epoch ms) of the keys this adapter wrote or read from L2, so a value served
 * from L1 is answered with its expiry without a round trip to Redis (L1 cuts its own copy's
 * timeline to `l1MaxTtlSeconds`, so the L1 entry cannot tell it). Bounded; a key forgotten, or
 * remembered as already past, is looked up again.
 */
export class KeyvExpiries {
  private readonly expiries = new Map<string, number>();

  constructor(private readonly max = REMEMBERED_EXPIRIES) {}

  /** Remembers when `key` expires (`undefined`: forgets it). */
  remember(key: string, expiresAt: number | undefined): void {
    this.expiries.delete(key);
    if (expiresAt === undefined) return;
    if (this.expiries.size >= this.max)
      this.expiries.delete(this.expiries.keys().next().value as string);
    this.expiries.set(key, expiresAt);
  }

  /** When `key` expires, if remembered and still ahead of `now`. */
  recall(key: string, now = Date.now()): number | undefined {
    const expiresAt = this.expiries.get(key);
    return expiresAt !== undefined && expiresAt > now ? expiresAt : undefined;
  }

  /** Forgets `key` (deleted, or its write failed). */
  forget(key: string): void {
    this.expiries.delete(key);
  }
}
