import { envInt } from './edge-config.js';

/**
 * How the app leaves a fleet on SIGTERM or SIGINT: readiness turns 503 at once; for `drainMs`
 * the listener keeps accepting and answers with `Connection: close` (so the balancer sees the
 * 503 and takes the instance out while no client is refused); then it stops accepting, lets
 * in-flight requests finish and closes Redis last, all within `timeoutMs`.
 */
export interface ShutdownConfig {
  /**
   * How long the listener keeps serving after the signal, in ms. Must exceed the time the
   * balancer needs to mark the instance down: check interval × fall count + one check timeout
   * + a margin (HAProxy `inter 500ms fall 2`: 500 × 2 + 500 + 1000 ≈ 2.5 s; the default leaves
   * room for `inter 1s fall 3`). Env `SHUTDOWN_DRAIN_MS`, default 5000; 0 = no drain window.
   */
  drainMs: number;
  /** Longest time after the drain window for in-flight requests to finish and connections to close, in ms; then the process exits regardless. Env `SHUTDOWN_TIMEOUT_MS`, default 10000. */
  timeoutMs: number;
}

/** The defaults of `ShutdownConfig`. */
export const SHUTDOWN_CONFIG_DEFAULTS: ShutdownConfig = {
  drainMs: 5000,
  timeoutMs: 10_000,
};

/** Parses and validates the shutdown settings of the environment; a bad value throws an error naming the variable. */
export function loadShutdownConfig(
  env: Record<string, string | undefined> = process.env,
): ShutdownConfig {
  const d = SHUTDOWN_CONFIG_DEFAULTS;
  return {
    drainMs: envInt(env, 'SHUTDOWN_DRAIN_MS', d.drainMs, 0, 600_000),
    timeoutMs: envInt(env, 'SHUTDOWN_TIMEOUT_MS', d.timeoutMs, 100, 600_000),
  };
}
