/**
 * Temp dirs of harness servers (`market-cache-test-*` under `os.tmpdir()`): creation, the
 * `owner.json` that records who owns each one, and the sweep of those left by crashed runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Prefix of every temp dir created by the harness (under `os.tmpdir()`). */
export const TMP_PREFIX = 'market-cache-test-';

const OWNER_FILE = 'owner.json';

/** What `owner.json` records: the test process and the redis-server it started. */
interface OwnerRecord {
  ownerPid?: number;
  serverPid?: number;
  port?: number;
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

/** Creates a fresh `market-cache-test-<port>-XXXXXX` dir and returns its path. */
export function createTempDir(port: number): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${TMP_PREFIX}${port}-`));
}

/** Records in `dir` that this process owns it and `serverPid` serves from it (diagnostics only). */
export function writeOwnerFile(dir: string, serverPid: number | undefined, port: number): void {
  const owner: OwnerRecord = { ownerPid: process.pid, serverPid, port };
  try {
    fs.writeFileSync(path.join(dir, OWNER_FILE), JSON.stringify(owner));
  } catch {
    // diagnostics only
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
      const owner = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as OwnerRecord;
      const ownerAlive = typeof owner.ownerPid === 'number' && pidAlive(owner.ownerPid);
      const serverAlive = typeof owner.serverPid === 'number' && pidAlive(owner.serverPid);
      if (!ownerAlive && !serverAlive) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours / not readable / already gone: leave it alone
    }
  }
}

/** Removes `dir` and everything in it; best effort, never throws. */
export function removeTempDir(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort
  }
}
