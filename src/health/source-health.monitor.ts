import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { MarketDataProvider, SourceHealth } from '../market/providers/market-data.provider.js';

/** Default period of the background source check, in milliseconds. */
export const DEFAULT_SOURCE_HEALTH_INTERVAL_MS = 5000;
/** Default bound of one source check, in milliseconds. */
export const DEFAULT_SOURCE_HEALTH_TIMEOUT_MS = 1000;

/** Timing of the data-source health check, in milliseconds (`config/app-config.ts`). */
export interface SourceHealthTiming {
  /** Period of the background check. */
  intervalMs: number;
  /** Bound of one check; past it the source is `down`. */
  timeoutMs: number;
}

/** The data source's last known health, in the shape of `/health/detailed`'s `services.source`. */
export interface SourceHealthState {
  status: 'up' | 'down';
  /** The provider: `synthetic`, `postgres`, … */
  name: string;
  /** Why `down` (no host names). */
  reason?: string;
  /** Round trip of the last check, in milliseconds. */
  latencyMs?: number;
  /** When the last check finished (ISO time); absent before the first. */
  checkedAt?: string;
  /** When a check last failed (ISO time); absent when none has. */
  lastErrorAt?: string;
}

/**
 * The data source's health, kept in memory for `/health/ready` (no I/O per probe): checked once at
 * start, then every `intervalMs` in the background (one check at a time, each bounded by
 * `timeoutMs`), and live by `/health/detailed`. Logs one line per change of state (`warn` when the
 * source goes down, `log` when it is back), never a stack trace.
 */
export class SourceHealthMonitor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('SourceHealth');
  private state: SourceHealthState;
  private running: Promise<SourceHealthState> | undefined;
  private timer: NodeJS.Timeout | undefined;

  private readonly timing: SourceHealthTiming;

  constructor(
    private readonly provider: Pick<MarketDataProvider, 'name' | 'health'>,
    timing: Partial<SourceHealthTiming> = {},
  ) {
    this.state = { status: 'up', name: provider.name };
    this.timing = {
      intervalMs: positiveOr(timing.intervalMs, DEFAULT_SOURCE_HEALTH_INTERVAL_MS),
      timeoutMs: positiveOr(timing.timeoutMs, DEFAULT_SOURCE_HEALTH_TIMEOUT_MS),
    };
  }

  /** The last known state, from memory. */
  current(): SourceHealthState {
    return { ...this.state };
  }

  /** Checks now (or joins the check in flight), within `timeoutMs`; never throws. */
  check(): Promise<SourceHealthState> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The first check (so readiness knows the source before the app listens), then the background timer. */
  async onApplicationBootstrap(): Promise<void> {
    await this.check();
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.timing.intervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<SourceHealthState> {
    const result = await this.bounded();
    const now = new Date().toISOString();
    const previous = this.state;
    const next: SourceHealthState = { status: result.status, name: this.provider.name };
    if (result.reason !== undefined && result.status === 'down') next.reason = result.reason;
    if (result.latencyMs !== undefined) next.latencyMs = result.latencyMs;
    next.checkedAt = now;
    const lastErrorAt = result.status === 'down' ? now : previous.lastErrorAt;
    if (lastErrorAt !== undefined) next.lastErrorAt = lastErrorAt;
    this.state = next;
    this.logChange(previous, next);
    return { ...next };
  }

  /** The provider's answer, or `down` when it throws or passes the bound. */
  private async bounded(): Promise<SourceHealth> {
    const { timeoutMs } = this.timing;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<SourceHealth>((resolve) => {
      timer = setTimeout(
        () => resolve({ status: 'down', reason: `no answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
      timer.unref();
    });
    const answer = Promise.resolve()
      .then(() => this.provider.health(timeoutMs))
      .catch((): SourceHealth => ({ status: 'down', reason: 'health check failed' }));
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private logChange(previous: SourceHealthState, next: SourceHealthState): void {
    const first = previous.checkedAt === undefined;
    if (next.status === 'down' && (first || previous.status === 'up')) {
      this.logger.warn(
        `market-data source '${next.name}' is down (${next.reason ?? 'no reason given'}): ` +
          `health degraded (data_source_down), cached data still served; retrying in the background`,
      );
    } else if (next.status === 'up' && !first && previous.status === 'down') {
      this.logger.log(`market-data source '${next.name}' is up again`);
    }
  }
}

/** `value` when it is a positive finite number, else `fallback`. */
function positiveOr(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
