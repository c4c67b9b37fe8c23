/**
 * scripts/mutation-merge.mjs: partial mutation runs merged into one incremental report. Test
 * and mutant ids restart at 0 in every run, so a merge that kept them would credit kills to
 * the wrong tests; a test file measured in two versions must be refused.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Test {
  id: string;
  name: string;
}
interface Mutant {
  id: string;
  status: string;
  coveredBy?: string[];
  killedBy?: string[];
}
interface Report {
  files: Record<string, { source: string; mutants: Mutant[] }>;
  testFiles: Record<string, { source?: string; tests: Test[] }>;
  schemaVersion: string;
}
interface MergeModule {
  mergeReports(reports: Report[]): Report;
  score(report: Report): { total: number; score: number; Survived: number };
}

async function load(): Promise<MergeModule> {
  const url = pathToFileURL(path.resolve('scripts/mutation-merge.mjs')).href;
  return (await import(url)) as MergeModule;
}

function part(
  file: string,
  tests: Record<string, { source: string; names: string[] }>,
  mutants: Mutant[],
): Report {
  // As in Stryker's reports: test ids count from 0 across the whole run.
  let next = 0;
  return {
    schemaVersion: '2',
    files: { [file]: { source: `// ${file}`, mutants } },
    testFiles: Object.fromEntries(
      Object.entries(tests).map(([f, t]) => [
        f,
        { source: t.source, tests: t.names.map((name) => ({ id: String(next++), name })) },
      ]),
    ),
  };
}

/** Names of the tests a mutant's id list points at, in the merged report. */
function namesOf(report: Report, ids: string[] | undefined): string[] {
  const byId = new Map(
    Object.entries(report.testFiles).flatMap(([file, t]) =>
      t.tests.map((test) => [test.id, `${file}: ${test.name}`] as const),
    ),
  );
  return (ids ?? []).map((id) => byId.get(id) ?? `unknown ${id}`);
}

describe('mutation-merge', () => {
  const a = part(
    'src/a.ts',
    { 'test/a.test.ts': { source: 'A', names: ['a kills', 'a misses'] } },
    [
      { id: '0', status: 'Killed', coveredBy: ['0', '1'], killedBy: ['0'] },
      { id: '1', status: 'Survived', coveredBy: ['1'] },
    ],
  );
  const b = part(
    'src/b.ts',
    {
      'test/b.test.ts': { source: 'B', names: ['b kills'] },
      'test/a.test.ts': { source: 'A', names: ['a misses'] },
    },
    [{ id: '0', status: 'Killed', coveredBy: ['0', '1'], killedBy: ['0'] }],
  );

  it('keeps every kill credited to the test that made it, under new unique ids', async () => {
    const { mergeReports } = await load();
    const merged = mergeReports([a, b]);
    const [killedA, survivedA] = merged.files['src/a.ts'].mutants;
    const [killedB] = merged.files['src/b.ts'].mutants;
    expect(namesOf(merged, killedA.killedBy)).toEqual(['test/a.test.ts: a kills']);
    expect(namesOf(merged, survivedA.coveredBy)).toEqual(['test/a.test.ts: a misses']);
    expect(namesOf(merged, killedB.killedBy)).toEqual(['test/b.test.ts: b kills']);
    expect(namesOf(merged, killedB.coveredBy)).toEqual([
      'test/b.test.ts: b kills',
      'test/a.test.ts: a misses',
    ]);
    const mutantIds = [killedA, survivedA, killedB].map((m) => m.id);
    expect(new Set(mutantIds).size).toBe(3);
    const testIds = Object.values(merged.testFiles).flatMap((t) => t.tests.map((x) => x.id));
    expect(new Set(testIds).size).toBe(testIds.length);
    expect(merged.testFiles['test/a.test.ts'].tests.map((t) => t.name)).toEqual([
      'a kills',
      'a misses',
    ]);
  });

  it('scores the merged report over every part', async () => {
    const { mergeReports, score } = await load();
    const s = score(mergeReports([a, b]));
    expect(s.total).toBe(3);
    expect(s.Survived).toBe(1);
    expect(s.score).toBeCloseTo(200 / 3, 5);
  });

  it('refuses parts that measured different versions of one test file', async () => {
    const { mergeReports } = await load();
    const changed = part(
      'src/c.ts',
      { 'test/a.test.ts': { source: 'A, edited', names: ['a kills'] } },
      [{ id: '0', status: 'Killed', coveredBy: ['0'], killedBy: ['0'] }],
    );
    expect(() => mergeReports([a, changed])).toThrow(/test\/a\.test\.ts differs between the parts/);
  });
});
