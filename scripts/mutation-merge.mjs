#!/usr/bin/env node
// Merges the incremental reports of several partial mutation runs into one, so that a run of
// the whole of src/cache (hours on 2 cores) can be done in parts, one session at a time:
//
//   npm run test:mutation -- --mutate 'src/cache/keys/**/*.ts' \
//     --incrementalFile reports/parts/keys.json
//   node scripts/mutation-merge.mjs reports/parts/*.json   # writes reports/stryker-incremental.json
//   npm run test:mutation                                  # reuses every merged result
//
// A report names tests and mutants by ids that count from 0 in every run, so the parts cannot
// simply be concatenated: each test is re-identified by its file and full name, each mutant
// renumbered, and every `coveredBy`/`killedBy` list rewritten. A source file reported by several
// parts keeps the part given last; a test file whose text differs between parts is refused
// (results measured against another version of a test must be measured again). Prints
// the score of the merged report: (killed + timeout) / (killed + timeout + survived + no cover).
import * as fs from 'node:fs';
import * as path from 'node:path';

const DEFAULT_OUT = 'reports/stryker-incremental.json';

function parseArgs(argv) {
  const inputs = [];
  let out = DEFAULT_OUT;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') {
      out = argv[++i];
      if (!out) throw new Error('--out needs a file name');
    } else inputs.push(argv[i]);
  }
  if (inputs.length === 0) {
    throw new Error(
      'usage: mutation-merge.mjs <part.json>... [--out reports/stryker-incremental.json]',
    );
  }
  return { inputs, out };
}

export function mergeReports(reports) {
  const testIds = new Map(); // `${file}\0${name}` -> merged id
  const testFiles = {};
  const files = {};
  let nextMutant = 0;

  const idOfTest = (file, test) => {
    const key = `${file}\0${test.name}`;
    let id = testIds.get(key);
    if (id === undefined) {
      id = String(testIds.size);
      testIds.set(key, id);
      const entry = (testFiles[file] ??= { tests: [] });
      entry.tests.push({ ...test, id });
    }
    return id;
  };

  for (const report of reports) {
    const local = new Map(); // this report's test id -> merged id
    for (const [file, entry] of Object.entries(report.testFiles ?? {})) {
      for (const test of entry.tests) local.set(test.id, idOfTest(file, test));
      if (entry.source === undefined) continue;
      const known = testFiles[file].source;
      if (known !== undefined && known !== entry.source) {
        // Stryker decides what to retest by diffing test sources: one source for results
        // measured against two versions would let it reuse results it must not.
        throw new Error(`${file} differs between the parts: run the older part again`);
      }
      testFiles[file].source = entry.source;
    }
    const remap = (ids) =>
      ids?.map((id) => {
        const merged = local.get(id);
        if (merged === undefined) throw new Error(`report names unknown test id ${id}`);
        return merged;
      });
    for (const [file, entry] of Object.entries(report.files)) {
      files[file] = {
        ...entry,
        mutants: entry.mutants.map((m) => ({
          ...m,
          id: String(nextMutant++),
          coveredBy: remap(m.coveredBy),
          killedBy: remap(m.killedBy),
        })),
      };
    }
  }
  const last = reports[reports.length - 1];
  return { ...last, files, testFiles };
}

export function score(report) {
  const count = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0 };
  for (const entry of Object.values(report.files)) {
    for (const m of entry.mutants) if (m.status in count) count[m.status]++;
  }
  const detected = count.Killed + count.Timeout;
  const total = detected + count.Survived + count.NoCoverage;
  return { ...count, total, score: total === 0 ? 0 : (100 * detected) / total };
}

if (import.meta.url === `file://${path.resolve(process.argv[1] ?? '')}`) {
  try {
    const { inputs, out } = parseArgs(process.argv.slice(2));
    const reports = inputs.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
    const merged = mergeReports(reports);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(merged, null, 2));
    const s = score(merged);
    console.log(
      `${out}: ${Object.keys(merged.files).length} files, ${s.total} scored mutants, ` +
        `score ${s.score.toFixed(2)} % (killed ${s.Killed}, timeout ${s.Timeout}, ` +
        `survived ${s.Survived}, no coverage ${s.NoCoverage})`,
    );
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
