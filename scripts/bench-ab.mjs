#!/usr/bin/env node
// `npm run bench:ab -- <rev> [--rounds N] [section ...]`: the bench sections (default `core`) of an
// earlier commit and of this working tree, run alternately in one session (A, B, A, B, …) so both
// see the same machine load. The earlier commit is checked out in a temporary git worktree that
// shares this tree's node_modules. Prints, per line, the median ops/s and the median ratio to the
// section's first row (its raw-client baseline) of each side, and after ÷ before of those ratios.
// `--same-bench`: both sides run this tree's bench/ (copied into the earlier checkout), so the
// comparison is of the code measured, not of how the bench measures.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const rev = args.shift();
if (!rev || rev.startsWith('-')) {
  console.error('usage: npm run bench:ab -- <rev> [--rounds N] [--same-bench] [section ...]');
  process.exit(2);
}
let rounds = 3;
let sameBench = false;
const sections = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--same-bench') sameBench = true;
  else if (args[i] === '--rounds') {
    rounds = Number(args[++i]);
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
      console.error(`--rounds must be an integer from 1 to 20, got '${args[i]}'`);
      process.exit(2);
    }
  } else sections.push(args[i]);
}
if (sections.length === 0) sections.push('core');

const run = (cwd, cmd, cmdArgs) =>
  execFileSync(cmd, cmdArgs, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

const before = mkdtempSync(join(tmpdir(), 'bench-ab-'));
try {
  run(root, 'git', ['worktree', 'add', '--detach', before, rev]);
  symlinkSync(join(root, 'node_modules'), join(before, 'node_modules'));
  if (sameBench) {
    rmSync(join(before, 'bench'), { recursive: true, force: true });
    cpSync(join(root, 'bench'), join(before, 'bench'), { recursive: true });
  }
  for (const dir of [before, root]) run(dir, 'npx', ['tsc', '-p', 'tsconfig.bench.json']);

  /** @type {Map<string, {before: number[][], after: number[][]}>} line → [opsPerSec, ratio] samples */
  const lines = new Map();
  for (let r = 0; r < rounds; r++) {
    for (const [side, dir] of [
      ['before', before],
      ['after', root],
    ]) {
      process.stderr.write(`round ${r + 1}/${rounds}: ${side}\n`);
      const out = run(dir, 'node', ['--expose-gc', 'dist-bench/bench/run.js', ...sections]);
      for (const row of out.split('\n')) {
        const cells = row.split('|').map((c) => c.trim());
        if (cells.length < 8 || !/^[\d,]+$/.test(cells[3])) continue;
        const key = `${cells[1]} | ${cells[2]}`;
        if (!lines.has(key)) lines.set(key, { before: [], after: [] });
        lines.get(key)[side].push([Number(cells[3].replace(/,/g, '')), Number(cells[6])]);
      }
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log(
    `A/B of \`${rev}\` (before) and this tree (after), ${rounds} alternating rounds, medians:\n`,
  );
  console.log(
    '| line | before ops/s | after ops/s | before × first | after × first | after ÷ before (ratio) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [key, { before: b, after: a }] of lines) {
    if (!b.length || !a.length) {
      console.log(`| ${key} | ${b.length ? '' : 'absent'} | ${a.length ? '' : 'absent'} | | | |`);
      continue;
    }
    const [bo, ao] = [median(b.map((x) => x[0])), median(a.map((x) => x[0]))];
    const [br, ar] = [median(b.map((x) => x[1])), median(a.map((x) => x[1]))];
    console.log(
      `| ${key} | ${Math.round(bo).toLocaleString('en-US')} | ${Math.round(ao).toLocaleString('en-US')} | ${br.toFixed(2)} | ${ar.toFixed(2)} | ${(ar / br).toFixed(2)} |`,
    );
  }
} finally {
  execFileSync('git', ['worktree', 'remove', '--force', before], { cwd: root, stdio: 'ignore' });
  rmSync(before, { recursive: true, force: true });
}
