/**
 * Free loopback ports for harness processes: never 6379, never one this process already handed
 * out, and for cluster nodes also a free cluster bus port.
 */
import * as net from 'node:net';

/** Loopback address every harness process binds to. */
export const TEST_HOST = '127.0.0.1';

/** A cluster node's bus port is its client port plus this. */
const CLUSTER_BUS_OFFSET = 10_000;
const MAX_ATTEMPTS = 200;

const handedOutPorts = new Set<number>([6379]);

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: TEST_HOST, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host: TEST_HOST, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Marks a caller-chosen port as taken so that {@link freePort} never hands it out. */
export function reservePort(port: number): void {
  handedOutPorts.add(port);
}

/** Options for {@link freePort}. */
export interface FreePortOptions {
  /** Also require `port + 10000` (the Redis Cluster bus port) to be free and ≤ 65535. */
  clusterBus?: boolean;
}

/**
 * Returns a currently-free TCP port on 127.0.0.1 (bind to port 0, read it, close).
 * Never returns 6379 nor a port already handed out by this process.
 */
export async function freePort(opts: FreePortOptions = {}): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = await ephemeralPort();
    if (!port || handedOutPorts.has(port)) continue;
    if (opts.clusterBus) {
      const bus = port + CLUSTER_BUS_OFFSET;
      if (bus > 65535 || handedOutPorts.has(bus)) continue;
      // Reserve both before awaiting so concurrent callers cannot get the same ports.
      handedOutPorts.add(port);
      handedOutPorts.add(bus);
      if (!(await canBind(bus))) {
        handedOutPorts.delete(port);
        handedOutPorts.delete(bus);
        continue;
      }
      return port;
    }
    handedOutPorts.add(port);
    return port;
  }
  throw new Error(
    `freePort: could not find a free port on 127.0.0.1 after ${MAX_ATTEMPTS} attempts`,
  );
}
