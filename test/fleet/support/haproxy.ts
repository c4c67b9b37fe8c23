/**
 * HAProxy (Debian's package, `/usr/sbin/haproxy`) in front of app instances, for fleet tests: a
 * generated config in a temp dir, free loopback ports, foreground (`-db`), and the admin socket
 * to read each server's state. Health check `GET /health/ready` every 500 ms, `fall 2`, no
 * retries, no redispatch: every refused or reset connection reaches the client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, TEST_HOST } from '../../harness/redis-server.js';

/** The HAProxy binary used by the fleet tests. */
export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

/** A server behind the balancer: its name (also sent back in `X-Server`) and port. */
export interface Backend {
  name: string;
  port: number;
}

/** A running HAProxy. */
export interface Balancer {
  /** The frontend port (on 127.0.0.1). */
  port: number;
  /** Each server's operational state from the admin socket: `UP` or `DOWN` (name → state). */
  serverStates(): Promise<Record<string, 'UP' | 'DOWN' | 'OTHER'>>;
  /** Stops HAProxy and removes its temp dir. */
  stop(): Promise<void>;
}

/** The generated configuration (exported for the report and the bench). */
export function haproxyConfig(port: number, socket: string, backends: Backend[]): string {
  return [
    'global',
    `  stats socket ${socket} mode 600 level admin`,
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout check 500ms',
    '  retries 0',
    '  no option redispatch',
    'frontend fe',
    `  bind ${TEST_HOST}:${port}`,
    '  default_backend be',
    'backend be',
    '  balance roundrobin',
    '  option httpchk GET /health/ready',
    '  default-server inter 500ms fall 2 rise 2',
    '  http-response set-header X-Server %s',
    ...backends.map((b) => `  server ${b.name} ${TEST_HOST}:${b.port} check`),
    '',
  ].join('\n');
}

/** Starts HAProxy in front of `backends`; resolves once every server is UP (within `upWithinMs`, generous). */
export async function startHaproxy(backends: Backend[], upWithinMs = 20_000): Promise<Balancer> {
  const dir = mkdtempSync(join(tmpdir(), 'mc-haproxy-'));
  const socket = join(dir, 'admin.sock');
  const port = await freePort();
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, haproxyConfig(port, socket, backends));
  const child: ChildProcess = spawn(HAPROXY_BIN, ['-db', '-f', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  let spawnError: Error | undefined;
  // A missing binary emits 'error' and never 'exit': settle on either, so nothing waits forever.
  const exited = new Promise<void>((done) => {
    child.once('exit', () => done());
    child.once('error', (e) => {
      spawnError = e;
      done();
    });
  });
  let running = true;
  void exited.then(() => (running = false));
  const balancer: Balancer = {
    port,
    serverStates: () => serverStates(socket),
    stop: async () => {
      if (running) child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + upWithinMs;
  while (Date.now() < deadline) {
    if (!running) break;
    const states = await serverStates(socket).catch(() => ({}) as Record<string, string>);
    if (backends.every((b) => states[b.name] === 'UP')) return balancer;
    await new Promise((r) => setTimeout(r, 100));
  }
  await balancer.stop();
  if (spawnError)
    throw new Error(
      `HAProxy could not start (${spawnError.message}): install it (apt-get install haproxy; .ci/run does)`,
    );
  throw new Error(`HAProxy did not bring every server UP within ${upWithinMs} ms:\n${out}`);
}

/** `show servers state` over the admin socket: `srv_op_state` 2 is UP, 0 is DOWN. */
async function serverStates(socket: string): Promise<Record<string, 'UP' | 'DOWN' | 'OTHER'>> {
  const text = await new Promise<string>((done, fail) => {
    let buf = '';
    const c = net.connect(socket, () => c.end('show servers state be\n'));
    c.on('data', (b: Buffer) => (buf += b.toString()));
    c.on('end', () => done(buf));
    c.on('error', fail);
  });
  const states: Record<string, 'UP' | 'DOWN' | 'OTHER'> = {};
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // be_id be_name srv_id srv_name srv_addr srv_op_state ...
    if (f.length > 6 && /^\d+$/.test(f[0]!)) {
      const op = f[5];
      states[f[3]!] = op === '2' ? 'UP' : op === '0' ? 'DOWN' : 'OTHER';
    }
  }
  return states;
}
