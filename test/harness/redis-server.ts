/**
 * Test harness: spawns private `redis-server` processes (standalone and cluster) on free
 * loopback ports, so tests never touch a developer's Redis on 6379.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Loopback address every harness process binds to. */
export const TEST_HOST = '127.0.0.1';

/** Prefix of every temp dir created by the harness (under `os.tmpdir()`). */
export const TMP_PREFIX = 'market-cache-test-';

const REDIS_SERVER_NOT_FOUND =
  'redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)';
const REDIS_CLI_NOT_FOUND =
  'redis-cli not found on PATH: install it (Debian/Ubuntu: apt-get install redis-tools; macOS: brew install redis)';

const READY_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 25;
const STOP_GRACE_MS = 3_000;
const EXIT_WAIT_MS = 10_000;
const CLUSTER_READY_TIMEOUT_MS = 20_000;
const CLUSTER_BUS_OFFSET = 10_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Process-wide registry: anything still alive when this process exits gets SIGKILLed and its
// temp dir removed, so a crashed or interrupted run leaves nothing behind.
// ---------------------------------------------------------------------------------------------
const liveServers = new Set<RedisServerProcess>();
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

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------
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
  for (let attempt = 0; attempt < 200; attempt++) {
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
  throw new Error('freePort: could not find a free port on 127.0.0.1 after 200 attempts');
}

// ---------------------------------------------------------------------------------------------
// Raw RESP client
// ---------------------------------------------------------------------------------------------

/** Encodes a command as a RESP array of bulk strings. */
function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const body = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

type RespValue = string | number | null | RespError | RespValue[];

class RespError {
  constructor(readonly message: string) {}
}

/**
 * Parses one RESP2 value from `buf` at `pos`. Returns `undefined` if more bytes are needed.
 */
function parseResp(buf: Buffer, pos: number): { value: RespValue; next: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', pos);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next: afterLine };
    case '-':
      return { value: new RespError(line), next: afterLine };
    case ':':
      return { value: Number(line), next: afterLine };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next: afterLine };
      if (buf.length < afterLine + len + 2) return undefined;
      return { value: buf.toString('utf8', afterLine, afterLine + len), next: afterLine + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: afterLine };
      const items: RespValue[] = [];
      let next = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buf, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`Unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

function respToText(value: RespValue): string {
  if (value === null) return '';
  if (Array.isArray(value)) return value.map(respToText).join('\n');
  if (value instanceof RespError) return `-${value.message}`;
  return String(value);
}

/** Options for {@link redisCommandAt}. */
export interface RedisCommandOptions {
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** Reject after this many ms without a complete reply (default 30 000). */
  timeoutMs?: number;
}

/** Like {@link redisCommand}, with explicit host and timeout. */
export function redisCommandAt(opts: RedisCommandOptions, ...args: string[]): Promise<string> {
  const { port, host = TEST_HOST, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS } = opts;
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    let buf: Buffer = Buffer.alloc(0);
    const socket = net.connect({ port, host });
    const finish = (err: Error | null, text?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(text ?? '');
    };
    const timer = setTimeout(
      () =>
        finish(
          new Error(`redis ${host}:${port} ${args[0] ?? ''}: no reply within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    socket.setNoDelay(true);
    socket.once('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let parsed: ReturnType<typeof parseResp>;
      try {
        parsed = parseResp(buf, 0);
      } catch (e) {
        finish(e as Error);
        return;
      }
      if (!parsed) return;
      const { value } = parsed;
      if (value instanceof RespError) {
        finish(new Error(`redis ${host}:${port} ${args.join(' ')}: ${value.message}`));
      } else {
        finish(null, respToText(value));
      }
    });
    socket.once('error', (err) => finish(err));
    socket.once('close', () =>
      finish(new Error(`redis ${host}:${port}: connection closed before reply`)),
    );
  });
}

/**
 * Sends one command (RESP array of bulk strings) to 127.0.0.1:`port` on a fresh connection and
 * returns the decoded reply as text: simple/bulk strings as-is (`'PONG'`, the CLUSTER INFO text),
 * integers as decimal, nil as `''`, arrays joined with `\n`. An error reply rejects the promise.
 * Times out after 30 s (enough for `DEBUG SLEEP` of a few seconds).
 */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return redisCommandAt({ port }, ...args);
}

/** One inline `PING` on a raw socket; resolves true only on `+PONG` (LOADING etc. → false). */
function pingOnce(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    let reply = '';
    const socket = net.connect({ port, host: TEST_HOST });
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Standalone server process
// ---------------------------------------------------------------------------------------------

/** Options for {@link RedisServerProcess.start}. */
export interface RedisServerOptions {
  /** Port to listen on; a free one is picked (and retried on a bind race) when omitted. */
  port?: number;
  /** Extra `redis-server` arguments, appended after the harness defaults. */
  args?: string[];
  /** Run as a Sentinel watching `127.0.0.1:masterPort` under `name` (quorum 1, down after 1 s). */
  sentinel?: { name: string; masterPort: number };
}

class AddressInUseError extends Error {
  readonly code = 'EADDRINUSE';
}

function tailFile(file: string, lines = 20): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log output)';
  }
}

/** True while a process with this pid exists (also when it belongs to another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes `market-cache-test-*` temp dirs left behind by crashed runs: only those whose owning
 * process and redis-server process are both gone. Never kills anything.
 */
export function sweepStaleTempDirs(): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of entries) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    try {
      const owner = JSON.parse(fs.readFileSync(path.join(dir, 'owner.json'), 'utf8')) as {
        ownerPid?: number;
        serverPid?: number;
      };
      const ownerAlive = typeof owner.ownerPid === 'number' && pidAlive(owner.ownerPid);
      const serverAlive = typeof owner.serverPid === 'number' && pidAlive(owner.serverPid);
      if (!ownerAlive && !serverAlive) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours / not readable / already gone: leave it alone
    }
  }
}

/** A private `redis-server` child process bound to 127.0.0.1 on its own port and temp dir. */
export class RedisServerProcess {
  /** Always `127.0.0.1`. */
  readonly host = TEST_HOST;
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;

  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private dir: string | undefined;
  private running = false;

  private constructor(
    /** TCP port the server listens on (stable across {@link restart}). */
    readonly port: number,
    private readonly extraArgs: readonly string[],
    private readonly sentinel?: { name: string; masterPort: number },
  ) {
    this.url = `redis://${TEST_HOST}:${port}`;
  }

  /**
   * Spawns `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no --dir <tmp>
   * --enable-debug-command local ...args` and resolves once it answers PING (10 s max).
   * Throws a one-line "redis-server not found on PATH" error if the binary is missing.
   */
  static async start(opts: RedisServerOptions = {}): Promise<RedisServerProcess> {
    const args = opts.args ?? [];
    if (opts.port !== undefined) {
      handedOutPorts.add(opts.port);
      const server = new RedisServerProcess(opts.port, args, opts.sentinel);
      try {
        await server.launch();
      } catch (e) {
        await server.stop().catch(() => undefined);
        throw e;
      }
      return server;
    }
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const server = new RedisServerProcess(await freePort(), args, opts.sentinel);
      try {
        await server.launch();
        return server;
      } catch (e) {
        await server.stop().catch(() => undefined);
        if (!(e instanceof AddressInUseError)) throw e;
        lastError = e;
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  /** True while the child process is alive (also while paused). */
  get isRunning(): boolean {
    return this.running;
  }

  /** PID of the current child process, if running. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** Temp dir (`--dir`) of this server, while it exists. */
  get tempDir(): string | undefined {
    return this.dir;
  }

  /** Path of the server's stdout/stderr log file. */
  get logFile(): string | undefined {
    return this.dir ? path.join(this.dir, 'redis.log') : undefined;
  }

  /** Last lines of the server log (for diagnostics). */
  logTail(lines = 20): string {
    return this.logFile ? tailFile(this.logFile, lines) : '(no log)';
  }

  /** Graceful stop: SIGTERM, SIGKILL after 3 s, wait for exit, then remove the temp dir. */
  async stop(): Promise<void> {
    await this.terminate('SIGTERM');
    this.removeDir();
    liveServers.delete(this);
  }

  /** Hard kill (SIGKILL) and wait for exit. Keeps port and temp dir so {@link restart} works. */
  async kill(): Promise<void> {
    await this.terminate('SIGKILL');
  }

  /** (Re)starts the server on the same port with the same args; resolves once it answers PING. */
  async restart(): Promise<void> {
    if (this.running) await this.terminate('SIGTERM');
    let lastError: unknown;
    // The old socket may linger briefly after a kill; retry a few times on a bind failure.
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await this.launch();
        return;
      } catch (e) {
        if (!(e instanceof AddressInUseError)) throw e;
        lastError = e;
        await sleep(200);
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  /** Freezes the process with SIGSTOP (connections stay open, nothing is answered). */
  pause(): void {
    if (this.running) this.child?.kill('SIGSTOP');
  }

  /** Resumes a paused process with SIGCONT. */
  resume(): void {
    if (this.running) this.child?.kill('SIGCONT');
  }

  /** Synchronous SIGKILL + temp dir removal; used from `process.on('exit')` hooks. */
  killSync(): void {
    if (this.running && this.child?.pid) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.removeDir();
  }

  private ensureDir(): string {
    if (!this.dir || !fs.existsSync(this.dir)) {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${TMP_PREFIX}${this.port}-`));
    }
    return this.dir;
  }

  /** Sentinel needs a writable config file; it is (re)written on every launch. */
  private writeSentinelConfig(dir: string): string {
    const { name, masterPort } = this.sentinel as { name: string; masterPort: number };
    const file = path.join(dir, 'sentinel.conf');
    fs.writeFileSync(
      file,
      [
        `sentinel monitor ${name} ${TEST_HOST} ${masterPort} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 3000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    return file;
  }

  private removeDir(): void {
    if (!this.dir) return;
    try {
      fs.rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
    this.dir = undefined;
  }

  private async launch(): Promise<void> {
    const dir = this.ensureDir();
    const logFile = path.join(dir, 'redis.log');
    const args = this.sentinel
      ? [
          this.writeSentinelConfig(dir),
          '--sentinel',
          '--port',
          String(this.port),
          '--bind',
          TEST_HOST,
          '--dir',
          dir,
          ...this.extraArgs,
        ]
      : [
          '--port',
          String(this.port),
          '--bind',
          TEST_HOST,
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--enable-debug-command',
          'local',
          ...this.extraArgs,
        ];
    const logFd = fs.openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', logFd, logFd] });
    } finally {
      fs.closeSync(logFd);
    }
    this.child = child;

    let exitInfo: string | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = signal ? `signal ${signal}` : `code ${code}`;
        if (this.child === child) this.running = false;
        resolve();
      });
    });
    // 'error' fires instead of 'spawn' when the binary cannot be executed.
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (this.child === child) this.running = false;
        reject(err.code === 'ENOENT' ? new Error(REDIS_SERVER_NOT_FOUND) : err);
      });
    });
    // Never let a stray child keep the test runner alive.
    child.unref();
    this.running = true;
    liveServers.add(this);
    installExitHook();
    try {
      fs.writeFileSync(
        path.join(dir, 'owner.json'),
        JSON.stringify({ ownerPid: process.pid, serverPid: child.pid, port: this.port }),
      );
    } catch {
      // diagnostics only
    }

    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (!this.running) {
        const tail = tailFile(logFile);
        const msg = `redis-server on port ${this.port} exited during startup (${exitInfo ?? 'unknown'}). Last log lines:\n${tail}`;
        throw /Address already in use/i.test(tail) ? new AddressInUseError(msg) : new Error(msg);
      }
      if ((await pingOnce(this.port)) && (await this.answersAsOurPid(child.pid))) return;
      await sleep(POLL_INTERVAL_MS);
    }
    const tail = tailFile(logFile);
    await this.terminate('SIGKILL');
    throw new Error(
      `redis-server on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms. Last log lines:\n${tail}`,
    );
  }

  /** Guards against a foreign server already listening on our port answering the PING. */
  private async answersAsOurPid(pid: number | undefined): Promise<boolean> {
    try {
      const info = await redisCommandAt({ port: this.port, timeoutMs: 1_000 }, 'INFO', 'server');
      return new RegExp(`^process_id:${pid}\\s*$`, 'm').test(info);
    } catch {
      return false;
    }
  }

  private async terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill(signal);
    // A SIGSTOPped process cannot act on SIGTERM until continued.
    if (signal === 'SIGTERM') child.kill('SIGCONT');
    const timers: NodeJS.Timeout[] = [];
    if (signal === 'SIGTERM') {
      timers.push(setTimeout(() => this.running && child.kill('SIGKILL'), STOP_GRACE_MS));
    }
    const waitLimit = new Promise<'timeout'>((resolve) =>
      timers.push(setTimeout(() => resolve('timeout'), EXIT_WAIT_MS)),
    );
    const result = await Promise.race([this.exited.then(() => 'exited' as const), waitLimit]);
    timers.forEach(clearTimeout);
    if (result === 'timeout') {
      throw new Error(
        `redis-server pid ${child.pid} (port ${this.port}) did not exit after ${signal}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------

/** Address of one cluster node. */
export interface NodeAddress {
  host: string;
  port: number;
}

/** One line of `CLUSTER NODES`, parsed. */
export interface ClusterNodeInfo {
  id: string;
  host: string;
  port: number;
  flags: string[];
  /** Node id of the master for replicas, `undefined` for masters. */
  masterId: string | undefined;
  connected: boolean;
  /** Slot ranges as `[from, to]` (inclusive); empty for replicas. */
  slots: Array<[number, number]>;
}

/** Parses the text of a `CLUSTER NODES` reply. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const nodes: ClusterNodeInfo[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const [id, addr, flags, master, , , , link, ...slotParts] = line.split(' ');
    const hostPort = addr.split('@')[0];
    const idx = hostPort.lastIndexOf(':');
    const slots: Array<[number, number]> = [];
    for (const part of slotParts) {
      if (part.startsWith('[')) continue; // migrating/importing markers
      const [from, to] = part.split('-').map(Number);
      slots.push([from, to ?? from]);
    }
    nodes.push({
      id,
      host: hostPort.slice(0, idx),
      port: Number(hostPort.slice(idx + 1)),
      flags: flags.split(','),
      masterId: master === '-' ? undefined : master,
      connected: link === 'connected',
      slots,
    });
  }
  return nodes;
}

/** Fetches and parses `CLUSTER NODES` from the node on `port`. */
export async function clusterNodes(port: number): Promise<ClusterNodeInfo[]> {
  return parseClusterNodes(await redisCommandAt({ port, timeoutMs: 5_000 }, 'CLUSTER', 'NODES'));
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      args,
      { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') reject(new Error(REDIS_CLI_NOT_FOUND));
          else
            reject(
              new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`),
            );
          return;
        }
        resolve(stdout);
      },
    );
  });
}

/** Options for {@link RedisClusterProcess.start}. */
export interface RedisClusterOptions {
  /** Number of masters (default 3, minimum 3 for `redis-cli --cluster create`). */
  masters?: number;
  /** Replicas per master (default 1). */
  replicasPerMaster?: number;
  /**
   * `cluster-node-timeout` in ms (default 5000). Failover tests want it short (1000: failover in
   * ≈ 2 s); the shared cluster keeps it long so a loaded 2-core machine never triggers spurious failovers.
   */
  nodeTimeoutMs?: number;
}

/** A private Redis Cluster made of `redis-server` children (default 3 masters + 3 replicas). */
export class RedisClusterProcess {
  /** Addresses of all nodes, in creation order (first `masters` were created as masters). */
  readonly nodes: NodeAddress[];
  /** `127.0.0.1:P1,127.0.0.1:P2,...` — the format of env `REDIS_CLUSTER_NODES`. */
  readonly nodeList: string;

  private constructor(
    /** The underlying server processes (for fault injection: kill/pause a node). */
    readonly servers: RedisServerProcess[],
  ) {
    this.nodes = servers.map((s) => ({ host: s.host, port: s.port }));
    this.nodeList = this.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  }

  /**
   * Starts `masters * (1 + replicasPerMaster)` cluster-enabled nodes, runs
   * `redis-cli --cluster create ... --cluster-yes`, and waits (20 s max) until every node reports
   * `cluster_state:ok`, all 16384 slots ok, all nodes known and every replica's link is up.
   */
  static async start(opts: RedisClusterOptions = {}): Promise<RedisClusterProcess> {
    const masters = opts.masters ?? 3;
    const replicas = opts.replicasPerMaster ?? 1;
    const total = masters * (1 + replicas);
    const servers: RedisServerProcess[] = [];
    try {
      const started = await Promise.allSettled(
        Array.from({ length: total }, () => startClusterNode(opts.nodeTimeoutMs ?? 5000)),
      );
      for (const r of started) if (r.status === 'fulfilled') servers.push(r.value);
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const cluster = new RedisClusterProcess(servers);
      await runRedisCli(
        [
          '--cluster',
          'create',
          ...cluster.nodes.map((n) => `${n.host}:${n.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        60_000,
      );
      await cluster.waitUntilReady(CLUSTER_READY_TIMEOUT_MS);
      return cluster;
    } catch (e) {
      await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
      throw e;
    }
  }

  /** PIDs of the currently running node processes. */
  get pids(): number[] {
    return this.servers.map((s) => s.pid).filter((p): p is number => typeof p === 'number');
  }

  /**
   * Polls until all running nodes agree the cluster is healthy (see {@link start}).
   * Useful after fault injection (e.g. a node restart). Throws with the last observation on timeout.
   */
  async waitUntilReady(timeoutMs = CLUSTER_READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no observation yet';
    while (Date.now() < deadline) {
      try {
        const problem = await this.healthProblem();
        if (!problem) return;
        last = problem;
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`Redis cluster (${this.nodeList}) not ready after ${timeoutMs} ms: ${last}`);
  }

  /** Ports of the nodes currently flagged `master` (and not failed), ascending. */
  async masterPorts(): Promise<number[]> {
    return (await this.liveNodeInfo())
      .filter(
        (n) => n.flags.includes('master') && !n.flags.some((f) => f === 'fail' || f === 'fail?'),
      )
      .map((n) => n.port)
      .sort((a, b) => a - b);
  }

  /** Ports of the nodes currently flagged `slave` (replicas), ascending. */
  async replicaPorts(): Promise<number[]> {
    return (await this.liveNodeInfo())
      .filter(
        (n) => n.flags.includes('slave') && !n.flags.some((f) => f === 'fail' || f === 'fail?'),
      )
      .map((n) => n.port)
      .sort((a, b) => a - b);
  }

  /** Stops every node (SIGTERM, SIGKILL after 3 s) and removes their temp dirs. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  private async liveNodeInfo(): Promise<ClusterNodeInfo[]> {
    let lastError: unknown = new Error('no running cluster node');
    for (const server of this.servers) {
      if (!server.isRunning) continue;
      try {
        return await clusterNodes(server.port);
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  private async healthProblem(): Promise<string | undefined> {
    const running = this.servers.filter((s) => s.isRunning);
    for (const server of running) {
      const info = parseInfo(
        await redisCommandAt({ port: server.port, timeoutMs: 2_000 }, 'CLUSTER', 'INFO'),
      );
      if (info.cluster_state !== 'ok')
        return `node ${server.port}: cluster_state:${info.cluster_state}`;
      if (info.cluster_slots_ok !== '16384')
        return `node ${server.port}: cluster_slots_ok:${info.cluster_slots_ok}`;
      if (Number(info.cluster_known_nodes) < running.length) {
        return `node ${server.port}: cluster_known_nodes:${info.cluster_known_nodes}`;
      }
      const repl = parseInfo(
        await redisCommandAt({ port: server.port, timeoutMs: 2_000 }, 'INFO', 'replication'),
      );
      if (repl.role === 'slave' && repl.master_link_status !== 'up') {
        return `replica ${server.port}: master_link_status:${repl.master_link_status}`;
      }
    }
    return undefined;
  }
}

async function startClusterNode(nodeTimeoutMs: number): Promise<RedisServerProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort({ clusterBus: true });
    try {
      return await RedisServerProcess.start({
        port,
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          '--cluster-config-file',
          `nodes-${port}.conf`,
          // Replicas full-sync immediately instead of after the default 5 s diskless delay.
          '--repl-diskless-sync-delay',
          '0',
        ],
      });
    } catch (e) {
      if (!(e instanceof AddressInUseError)) throw e;
      lastError = e;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
