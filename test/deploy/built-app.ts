/**
 * The app as the image runs it, without Docker: the build stage's `npm run build` compiled into
 * a temp directory laid out like the image's WORKDIR (`dist/`, `package.json`, `node_modules`
 * linked to the checkout's), and the image's CMD started there with exactly the environment the
 * caller gives (no defaults added).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_HOST } from '../harness/redis-server.js';
import { REPO_ROOT } from './compose-support.js';

/** A directory laid out like the runtime image's WORKDIR. */
export interface BuiltApp {
  dir: string;
  /** tsc's diagnostics (the build emits even with type errors elsewhere in the checkout). */
  buildOutput: string;
  remove(): void;
}

/** Exit code and output of a child process. */
interface Finished {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Finished> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.once('error', fail);
    child.once('exit', (code) => done({ code, output }));
  });
}

/** Runs `npm run <script> -- --outDir <temp>/<outDir>` in the checkout and lays the temp dir out like the image. */
export async function buildApp(script: string, outDir: string): Promise<BuiltApp> {
  const dir = mkdtempSync(join(tmpdir(), 'market-cache-image-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const build = await run('npm', ['run', script, '--', '--outDir', join(dir, outDir)], REPO_ROOT, {
    ...process.env,
  });
  copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  if (!existsSync(join(dir, outDir))) {
    remove();
    throw new Error(`npm run ${script} emitted nothing:\n${build.output}`);
  }
  return { dir, buildOutput: build.code === 0 ? '' : build.output, remove };
}

/** A started process of the built app. */
export interface RunningApp {
  pid: number;
  exited: Promise<Finished>;
  output(): string;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `command` (the image's CMD) in `cwd` with exactly `env` (plus PATH, which the image's base also sets). */
export function startCommand(
  command: string[],
  cwd: string,
  env: Record<string, string>,
): RunningApp {
  const child: ChildProcess = spawn(
    command[0] === 'node' ? process.execPath : command[0],
    command.slice(1),
    {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<Finished>((done) =>
    child.once('exit', (code) => done({ code, output })),
  );
  return {
    pid: child.pid ?? -1,
    exited,
    output: () => output,
    kill: (signal) => void child.kill(signal),
  };
}

/** Runs a healthcheck's exec-form command (as `CMD` would in the container) and resolves its exit code. */
export async function runHealthcheck(
  command: string[],
  env: Record<string, string>,
): Promise<number | null> {
  const bin = command[0] === 'node' ? process.execPath : command[0];
  return (await run(bin, command.slice(1), REPO_ROOT, { PATH: process.env.PATH ?? '', ...env }))
    .code;
}

/** Status and JSON body of a request on a fresh connection (status 0 when the connection failed). */
export function getJson(
  port: number,
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((done) => {
    const req = http.request(
      { host: TEST_HOST, port, path, method, headers, agent: false },
      (res) => {
        let text = '';
        res.on('data', (b: Buffer) => (text += b.toString()));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            body = text; // not JSON (e.g. an empty body): kept as text
          }
          done({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', () => done({ status: 0, body: undefined }));
    req.setTimeout(5000, () => req.destroy());
    req.end();
  });
}

/** Polls `path` until it answers `status` or the process exits; throws with the app's output when it never does. */
export async function waitForStatus(
  app: RunningApp,
  port: number,
  path: string,
  status: number,
  withinMs: number,
): Promise<void> {
  let exited = false;
  void app.exited.then(() => (exited = true));
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline && !exited) {
    if ((await getJson(port, path)).status === status) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${path} never answered ${status}${exited ? ' (app exited)' : ''}:\n${app.output()}`,
  );
}
