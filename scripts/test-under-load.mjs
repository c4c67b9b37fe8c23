#!/usr/bin/env node
/**
 * Proof of robustness (issue 16): runs the full test suite while two CPU-burning child processes
 * compete for the machine, then stops them and exits with the suite's exit code.
 *
 *   npm run test:stress                 # the whole suite, as `npm test` runs it
 *   npm run test:stress -- <jest args>  # extra arguments go to jest (e.g. one test file)
 *
 * The burners are plain busy loops in their own node processes (one per core of a two-core CI
 * machine); they are killed by their process id when the suite ends, also on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const BURNERS = 2;
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

const burners = Array.from({ length: BURNERS }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
);
const stopBurners = () => {
  for (const b of burners) if (b.exitCode === null && b.signalCode === null) b.kill('SIGKILL');
};
process.on('exit', stopBurners);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopBurners();
    process.exit(130);
  });
}

console.log(
  `test:stress: ${BURNERS} CPU burners started (pids ${burners.map((b) => b.pid).join(', ')})`,
);
const started = Date.now();
const suite = spawn('npm', ['test', '--', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
suite.on('exit', (code, signal) => {
  stopBurners();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const result = code === 0 ? 'passed' : `failed (${signal ?? `exit code ${code}`})`;
  console.log(`test:stress: suite ${result} in ${seconds} s with ${BURNERS} CPU burners`);
  process.exit(code ?? 1);
});
