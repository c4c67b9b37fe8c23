/**
 * One private `redis-server` child process (standalone or Sentinel) bound to 127.0.0.1 on its own
 * port and temp dir, with the controls fault tests need: kill, restart, pause, resume.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { forgetOnExit, killOnExit } from './exit-cleanup.js';
import { freePort, reservePort, TEST_HOST } from './ports.js';
import { pingOnce, redisCommandAt } from './resp-client.js';
import { sentinelArgs, SentinelTarget } from './redis-sentinel.js';
import { createTempDir, removeTempDir, writeOwnerFile } from './temp-dirs.js';

const REDIS_SERVER_NOT_FOUND =
  'redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)';

const READY_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 25;
const STOP_GRACE_MS = 3_000;
const EXIT_WAIT_MS = 10_000;
const START_ATTEMPTS = 5;
const RESTART_ATTEMPTS = 10;
const RESTART_RETRY_MS = 200;

/** Options for {@link RedisServerProcess.start}. */
export interface RedisServerOptions {
  /** Port to listen on; a free one is picked (and retried on a bind race) when omitted. */
  port?: number;
  /** Extra `redis-server` arguments, appended after the harness defaults. */
  args?: string[];
  /** Run as a Sentinel watching `127.0.0.1:masterPort` under `name` (quorum 1, down after 1 s). */
  sentinel?: SentinelTarget;
}

/** The server exited during start-up because its port was taken: worth retrying on another. */
export class AddressInUseError extends Error {
  /** Same code as the Node bind error. */
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

/** Arguments of a plain (non-Sentinel) server: no persistence, DEBUG allowed locally. */
function standaloneArgs(dir: string, port: number, extraArgs: readonly string[]): string[] {
  return [
    '--port',
    String(port),
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
    ...extraArgs,
  ];
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
    private readonly sentinel?: SentinelTarget,
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
      reservePort(opts.port);
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
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
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
    forgetOnExit(this);
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
    for (let attempt = 0; attempt < RESTART_ATTEMPTS; attempt++) {
      try {
        await this.launch();
        return;
      } catch (e) {
        if (!(e instanceof AddressInUseError)) throw e;
        lastError = e;
        await sleep(RESTART_RETRY_MS);
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
    if (!this.dir || !fs.existsSync(this.dir)) this.dir = createTempDir(this.port);
    return this.dir;
  }

  private removeDir(): void {
    if (!this.dir) return;
    removeTempDir(this.dir);
    this.dir = undefined;
  }

  private async launch(): Promise<void> {
    // 1. Spawn the child with stdout/stderr appended to the log file in its temp dir.
    const dir = this.ensureDir();
    const logFile = path.join(dir, 'redis.log');
    const args = this.sentinel
      ? sentinelArgs(dir, this.port, this.sentinel, this.extraArgs)
      : standaloneArgs(dir, this.port, this.extraArgs);
    const logFd = fs.openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', logFd, logFd] });
    } finally {
      fs.closeSync(logFd);
    }
    this.child = child;

    // 2. Track its exit, and fail fast when the binary cannot be executed.
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
    killOnExit(this);
    writeOwnerFile(dir, child.pid, this.port);

    // 3. Wait until our own process (not a foreign one on the same port) answers PING.
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
