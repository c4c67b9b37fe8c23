/**
 * Process-wide registry of live harness servers: anything still alive when this process exits
 * gets SIGKILLed and its temp dir removed, so a crashed or interrupted run leaves nothing behind.
 */

/** A server that can be killed synchronously from an exit hook. */
export interface SyncKillable {
  /** SIGKILL the process and remove its temp dir, without awaiting anything. */
  killSync(): void;
}

const liveServers = new Set<SyncKillable>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const server of liveServers) server.killSync();
  };
  process.on('exit', killAll);
  // Default signal handling skips 'exit' hooks: clean up, then re-raise if nobody else handles it.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

/** Kills `server` when this process exits (installs the exit and signal hooks on first use). */
export function killOnExit(server: SyncKillable): void {
  liveServers.add(server);
  installExitHook();
}

/** Stops tracking `server` (it was stopped cleanly). */
export function forgetOnExit(server: SyncKillable): void {
  liveServers.delete(server);
}
