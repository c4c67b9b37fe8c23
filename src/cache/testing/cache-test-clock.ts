import type { OnApplicationShutdown } from '@nestjs/common';
import { CacheValidationError } from '../errors/cache-errors.js';

/** Options of `CacheTestClock`. */
export interface CacheTestClockOptions {
  /** The instant the clock shows when installed: epoch milliseconds or a `Date`. Default: the real time then. */
  startAt?: number | Date;
}

/** The `Date` whose `now` a clock replaced, and the `now` it had: restored on uninstall. */
interface Installed {
  target: DateConstructor;
  previous: () => number;
}

/** The clock that answers `Date.now()` at the moment, if any (one at a time per process). */
let active: { clock: CacheTestClock; installed: Installed } | undefined;

/**
 * A controllable clock for unit tests, independent of any test framework (Jest, Vitest, Mocha,
 * `node:test`). The cache reads its time from `Date.now()` (entry timelines, TTLs, locks, quota
 * windows), so while installed this clock answers `Date.now()` for the whole process, frozen at
 * the instant it shows until `advanceMs`, `advanceSeconds` or `advanceTo` moves it forward.
 * Timers, `performance.now()` and `new Date()` without arguments keep real time, so factory
 * timeouts and lock waits still run in real milliseconds.
 *
 * `MarketCacheTestingModule` installs one when its providers are created and uninstalls it when
 * the application (or testing module) closes. Installing a clock uninstalls the one installed
 * before, if any; a clock that is not installed refuses to move.
 */
export class CacheTestClock implements OnApplicationShutdown {
  private current: number;
  private readonly startAt: number | undefined;

  constructor(options: CacheTestClockOptions = {}) {
    this.startAt =
      options.startAt === undefined ? undefined : instantOf(options.startAt, 'startAt');
    this.current = this.startAt ?? Date.now();
  }

  /** True while this clock answers `Date.now()`. */
  get installed(): boolean {
    return active?.clock === this;
  }

  /** Makes `Date.now()` answer this clock (from `startAt`, or the real time now); answers the clock. */
  install(): this {
    if (this.installed) return this;
    if (active) active.clock.uninstall();
    const target = Date;
    const previous = target.now;
    this.current = this.startAt ?? previous.call(target);
    target.now = () => this.current;
    active = { clock: this, installed: { target, previous } };
    return this;
  }

  /** Gives `Date.now()` back its previous behaviour (a no-op when this clock is not installed). */
  uninstall(): void {
    if (!active || active.clock !== this) return;
    const { target, previous } = active.installed;
    target.now = previous;
    active = undefined;
  }

  /** Uninstalls the clock when the application closes. */
  onApplicationShutdown(): void {
    this.uninstall();
  }

  /** The instant the clock shows, in epoch milliseconds. */
  now(): number {
    return this.current;
  }

  /** Moves the clock forward by `ms` milliseconds (0 or more); answers the new instant (epoch ms). */
  advanceMs(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0)
      throw new CacheValidationError('ms', `advanceMs: expected 0 or more milliseconds, got ${ms}`);
    return this.moveTo(this.current + ms);
  }

  /** Moves the clock forward by `seconds` (0 or more); answers the new instant (epoch ms). */
  advanceSeconds(seconds: number): number {
    if (!Number.isFinite(seconds) || seconds < 0)
      throw new CacheValidationError(
        'seconds',
        `advanceSeconds: expected 0 or more seconds, got ${seconds}`,
      );
    return this.moveTo(this.current + seconds * 1000);
  }

  /** Moves the clock forward to `instant` (epoch ms or a `Date`, not before `now()`); answers it. */
  advanceTo(instant: number | Date): number {
    const to = instantOf(instant, 'instant');
    if (to < this.current)
      throw new CacheValidationError(
        'instant',
        `advanceTo: ${new Date(to).toISOString()} is before the clock (${new Date(this.current).toISOString()}); a cache clock only moves forward`,
      );
    return this.moveTo(to);
  }

  private moveTo(instant: number): number {
    if (!this.installed)
      throw new CacheValidationError(
        'clock',
        'this CacheTestClock is not installed (its module was closed, or another clock replaced it)',
      );
    this.current = instant;
    return instant;
  }
}

/** Epoch ms of an instant given as a number or a `Date`; `CacheValidationError` naming `field` when invalid. */
function instantOf(instant: number | Date, field: string): number {
  const ms = instant instanceof Date ? instant.getTime() : instant;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
    throw new CacheValidationError(field, `${field}: expected an epoch-ms instant or a valid Date`);
  return ms;
}
