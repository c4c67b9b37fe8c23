/**
 * Locks (`acquireLock`) held in process memory, which is enough for a single box: a lock is a
 * token with an expiry on the store clock (ms since the epoch).
 */
export class ProcessLocks {
  private readonly held = new Map<string, { token: string; expiresAt: number }>();

  /** @param now the store clock, in milliseconds since the epoch. */
  constructor(private readonly now: () => number) {}

  /** Takes lock `key` with `token` for `ttlMs` milliseconds: 'acquired', or 'busy' while another unexpired token holds it. */
  acquire(key: string, token: string, ttlMs: number): 'acquired' | 'busy' {
    const now = this.now();
    const held = this.held.get(key);
    if (held && held.expiresAt > now) return 'busy';
    this.held.set(key, { token, expiresAt: now + ttlMs });
    return 'acquired';
  }

  /** Releases lock `key` when it is still held by `token`. `true` when released. */
  release(key: string, token: string): boolean {
    const held = this.held.get(key);
    if (!held) return false;
    if (held.expiresAt <= this.now()) {
      this.held.delete(key);
      return false;
    }
    if (held.token !== token) return false;
    this.held.delete(key);
    return true;
  }

  /** Forgets the locks expired at `nowMs` (ms since the epoch). */
  removeExpired(nowMs: number): void {
    for (const [key, lock] of this.held) {
      if (lock.expiresAt <= nowMs) this.held.delete(key);
    }
  }
}
