/**
 * A small bounded HTTP load for fleet tests and the deploy bench: a few workers, each sending
 * GETs one after another over a keep-alive agent, until stopped or `maxRequests` is reached.
 * Every request is recorded with its outcome; nothing is retried.
 */
import * as http from 'node:http';
import { TEST_HOST } from '../../harness/redis-server.js';

/** One request's outcome (`at`: `performance.now()` when it ended). */
export interface LoadSample {
  at: number;
  /** From sending to the end of the response (or the error), in ms. */
  latencyMs: number;
  /** HTTP status, 0 when the request failed. */
  status: number;
  /** `X-Server` (set by the balancer), when present. */
  server?: string;
  /** The response's `Connection` header. */
  connection?: string;
  /** The error code (`ECONNREFUSED`, `ECONNRESET`, …) when the request failed. */
  error?: string;
  /** Whether the request went over a kept-alive connection. */
  reused: boolean;
}

/** Options of {@link startLoad}. */
export interface LoadOptions {
  port: number;
  paths: string[];
  /** Concurrent workers (each with its own keep-alive connection). Default 4. */
  concurrency?: number;
  /** Pause of each worker between requests, in ms. Default 5. */
  pauseMs?: number;
  /** Hard bound on the number of requests. Default 20000. */
  maxRequests?: number;
}

/** A running load. */
export interface Load {
  samples: LoadSample[];
  /** Stops the workers; resolves with every sample once the last request ended. */
  stop(): Promise<LoadSample[]>;
}

/** Starts the load. */
export function startLoad(options: LoadOptions): Load {
  const { port, paths, concurrency = 4, pauseMs = 5, maxRequests = 20_000 } = options;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const samples: LoadSample[] = [];
  let stopped = false;
  let sent = 0;
  const worker = async (w: number) => {
    for (let i = w; !stopped && sent < maxRequests; i += concurrency) {
      sent++;
      samples.push(await get(agent, port, paths[i % paths.length]!));
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  return {
    samples,
    stop: async () => {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return samples;
    },
  };
}

function get(agent: http.Agent, port: number, path: string): Promise<LoadSample> {
  const start = performance.now();
  return new Promise((done) => {
    const req = http.get({ host: TEST_HOST, port, path, agent }, (res) => {
      res.resume();
      res.on('end', () =>
        done({
          ...ended(start),
          status: res.statusCode ?? 0,
          server: header(res.headers['x-server']),
          connection: header(res.headers.connection),
          reused: req.reusedSocket,
        }),
      );
      res.on('error', (e: NodeJS.ErrnoException) =>
        done({ ...ended(start), status: 0, error: e.code ?? e.message, reused: true }),
      );
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      done({
        ...ended(start),
        status: 0,
        error: e.code ?? e.message,
        reused: req.reusedSocket,
      }),
    );
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
  });
}

function ended(start: number): { at: number; latencyMs: number } {
  const at = performance.now();
  return { at, latencyMs: at - start };
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}
