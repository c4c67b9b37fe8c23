// Jest test sequencer for mutation runs only (stryker.config.mjs sets it; `npm test` does not).
//
// Stryker runs each mutant with a test-name filter: the tests that reached the mutant in the
// initial run. Jest applies that filter only after it has loaded every related test file, and
// loading one of ours means evaluating its whole Nest/ioredis module graph: 35-71 files per
// mutant, 128-149 s. This sequencer hands jest only the files that hold a test which reached
// the active mutant, so a mutant costs the files that can kill it.
//
// - Initial run (per-test coverage on): cacheResults() joins Stryker's per-test coverage
//   (test name -> mutant ids) with jest's results (test file -> test names) and writes
//   mutant id -> test files to a JSON file in the sandbox, which every worker reads.
// - Mutant run: sort() keeps the files listed for the active mutant, fastest first. The tests it
//   drops are the ones the name filter would have skipped anyway. A mutant missing from the map
//   (or no map at all) runs every file jest found, as before.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const require = createRequire(import.meta.url);
/** The state object Stryker's jest runner shares with its jest environment (same process). */
export const { state } = require(
  path.join(
    path.dirname(require.resolve('@stryker-mutator/jest-runner/package.json')),
    'dist/src/jest-plugins/messaging.cjs',
  ),
);

const ACTIVE_MUTANT = '__STRYKER_ACTIVE_MUTANT__';
const MAP_FILE = '.stryker-mutant-test-files.json';

/**
 * Read once per worker: mutant id -> test file paths, and each file's run time in the initial
 * run (files are run fastest first: with the bail runner, a quick kill skips the slow files).
 * @type {{ file: string, files: Map<string, Set<string>>, runtimeMs: Record<string, number> } | undefined}
 */
let plan;

function mapPath(tests) {
  const rootDir = tests[0]?.context.config.rootDir ?? process.cwd();
  return path.join(rootDir, MAP_FILE);
}

function loadPlan(tests) {
  const file = mapPath(tests);
  if (plan?.file === file) return plan;
  try {
    const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    plan = {
      file,
      files: new Map(Object.entries(raw.files).map(([id, files]) => [id, new Set(files)])),
      runtimeMs: raw.runtimeMs,
    };
  } catch {
    return undefined;
  }
  return plan;
}

export default class StrykerTestSequencer {
  sort(tests) {
    const ordered = [...tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const mutant = process.env[ACTIVE_MUTANT];
    if (mutant === undefined) return ordered;
    const known = loadPlan(ordered);
    const files = known?.files.get(mutant);
    if (!known || !files) return ordered;
    const runtime = (t) => known.runtimeMs[t.path] ?? Infinity;
    return ordered.filter((t) => files.has(t.path)).sort((a, b) => runtime(a) - runtime(b));
  }

  cacheResults(tests, results) {
    const perTest = state.instrumenterContext?.mutantCoverage?.perTest;
    if (state.coverageAnalysis !== 'perTest' || !perTest || tests.length === 0) return;
    /** @type {Record<string, string[]>} */
    const out = {};
    /** @type {Record<string, number>} */
    const runtimeMs = {};
    for (const file of results.testResults) {
      runtimeMs[file.testFilePath] = file.perfStats.runtime;
      for (const test of file.testResults) {
        for (const id of Object.keys(perTest[test.fullName] ?? {})) {
          const files = (out[id] ??= []);
          if (!files.includes(file.testFilePath)) files.push(file.testFilePath);
        }
      }
    }
    fs.writeFileSync(mapPath(tests), JSON.stringify({ files: out, runtimeMs }));
    plan = undefined;
  }

  allFailedTests(tests) {
    return tests;
  }

  shard(tests) {
    return tests;
  }
}
