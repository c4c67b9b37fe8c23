import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import * as net from 'node:net';

/** Timing of a drain, in milliseconds (see `config/shutdown-config.ts`). */
export interface DrainTiming {
  /** How long the listener keeps serving, with `Connection: close`, after the drain begins. */
  drainMs: number;
  /** Longest time after the drain window for in-flight requests and closing. */
  timeoutMs: number;
}

/** What the drain calls: readiness first, the application's own close last. */
export interface DrainHooks {
  /** Called at once when the drain begins: readiness must answer 503 from then on. */
  beginShutdown(): void;
  /** Closes the application once no request is left (Nest hooks; the cache closes Redis last). */
  closeApp(): Promise<void>;
  /** Progress messages (one per step). */
  log?(message: string): void;
}

/** How a drain ended. */
export interface DrainOutcome {
  /** True when every connection ended on its own; false when some were cut at the bound. */
  inFlightFinished: boolean;
}

/** How often idle connections are closed once the listener stopped, in milliseconds. */
export const IDLE_SWEEP_MS = 250;

/** Share of `timeoutMs` kept for closing the application after in-flight requests (at most 1 s). */
export const CLOSE_RESERVE_FRACTION = 0.25;

/**
 * Takes an HTTP server out of a fleet without refusing or resetting a client: readiness turns
 * 503 at once; the listener keeps accepting for `drainMs` (long enough for the balancer to see
 * the 503 and stop sending), answering every request with `Connection: close` so keep-alive
 * clients reconnect elsewhere; then it stops accepting, sweeps idle connections, waits for
 * in-flight requests (bounded by `timeoutMs` less a reserve for closing, after which the rest are
 * cut), and closes the application. `begin()` is idempotent.
 */
export class GracefulDrain {
  private draining = false;
  private run?: Promise<DrainOutcome>;

  constructor(
    private readonly server: Server,
    /** The drain window and the bound after it. */
    readonly timing: DrainTiming,
    private readonly hooks: DrainHooks,
  ) {
    // First listener of every request: runs before the application sees it.
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (this.draining) res.setHeader('Connection', 'close');
    });
  }

  /** True once the drain began. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Begins the drain (once; later calls return the same outcome). */
  begin(): Promise<DrainOutcome> {
    this.run ??= this.sequence();
    return this.run;
  }

  private async sequence(): Promise<DrainOutcome> {
    const { drainMs, timeoutMs } = this.timing;
    this.draining = true;
    this.hooks.beginShutdown();
    this.hooks.log?.(`draining: readiness 503, still serving for ${drainMs} ms`);
    await new Promise<void>((resolve) => setTimeout(resolve, drainMs));
    const reserve = Math.min(1000, Math.floor(timeoutMs * CLOSE_RESERVE_FRACTION));
    this.hooks.log?.('drain window over: no longer accepting, finishing in-flight requests');
    const inFlightFinished = await this.stopAccepting(timeoutMs - reserve);
    if (!inFlightFinished)
      this.hooks.log?.(`in-flight requests cut after ${timeoutMs - reserve} ms`);
    await this.hooks.closeApp();
    return { inFlightFinished };
  }

  /**
   * Stops listening, then closes idle connections every `IDLE_SWEEP_MS` (not at once: a connection
   * accepted a moment ago may have its request still in transit); resolves true when every
   * connection ended within `boundMs`, false when the rest were cut then.
   */
  private stopAccepting(boundMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const sweep = setInterval(() => this.server.closeIdleConnections(), IDLE_SWEEP_MS);
      const bound = setTimeout(() => {
        clearInterval(sweep);
        this.server.closeAllConnections();
        resolve(false);
      }, boundMs);
      // The listener only (`net.Server#close`): `http.Server#close` would also close idle
      // connections at once. The callback runs once the last connection has ended.
      net.Server.prototype.close.call(this.server, () => {
        clearInterval(sweep);
        clearTimeout(bound);
        resolve(true);
      });
    });
  }
}

/** How {@link drainOnSignals} ends the process, and what it listens to. */
export interface DrainSignalOptions {
  /** Default `SIGTERM` and `SIGINT`. */
  signals?: readonly NodeJS.Signals[];
  /** Default `process.exit`. */
  exit?: (code: number) => void;
  log?: (message: string) => void;
  error?: (message: string) => void;
}

/**
 * Drains on the first of `signals` (later ones are ignored while draining), then exits 0; exits 1
 * when the drain failed or when drain + timeout passed without it finishing (the last resort).
 * Returns a function that removes the listeners.
 */
export function drainOnSignals(drain: GracefulDrain, options: DrainSignalOptions = {}): () => void {
  const { signals = ['SIGTERM', 'SIGINT'], exit = (code) => process.exit(code) } = options;
  const { drainMs, timeoutMs } = drain.timing;
  const onSignal = (signal: NodeJS.Signals) => {
    if (drain.isDraining) return;
    options.log?.(`${signal} received`);
    setTimeout(() => {
      options.error?.(`shutdown did not finish within ${drainMs + timeoutMs} ms; exiting`);
      exit(1);
    }, drainMs + timeoutMs).unref();
    drain.begin().then(
      () => exit(0),
      (err: unknown) => {
        options.error?.(`shutdown failed: ${String(err)}`);
        exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
