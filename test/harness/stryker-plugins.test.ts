/**
 * The two jest plugins that make a mutation run affordable (stryker.config.mjs): the sequencer
 * that hands jest only the test files which reached the active mutant, and the runner that
 * stops at the first failing file. A bug in either turns survivors into kills or the reverse,
 * so they are checked here, outside Stryker.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const HARNESS = path.resolve('test/harness');
const ACTIVE_MUTANT = '__STRYKER_ACTIVE_MUTANT__';

interface FakeTest {
  path: string;
  context: { config: { rootDir: string } };
}
interface FileResult {
  testFilePath: string;
  perfStats: { runtime: number };
  testResults: { fullName: string }[];
}
interface Sequencer {
  sort(tests: FakeTest[]): FakeTest[];
  cacheResults(tests: FakeTest[], results: { testResults: FileResult[] }): void;
}
interface StrykerState {
  coverageAnalysis: string;
  instrumenterContext: { mutantCoverage?: { perTest: Record<string, Record<string, number>> } };
}

interface SequencerModule {
  default: new () => Sequencer;
  /** The object Stryker's jest runner shares with the sequencer (Node's own module cache). */
  state: StrykerState;
}

async function loadModule(): Promise<SequencerModule> {
  const url = pathToFileURL(path.join(HARNESS, 'stryker-sequencer.mjs')).href;
  return (await import(url)) as SequencerModule;
}

async function loadSequencer(): Promise<new () => Sequencer> {
  return (await loadModule()).default;
}

async function strykerState(): Promise<StrykerState> {
  return (await loadModule()).state;
}

describe('mutation-run test sequencer', () => {
  let root: string;
  let tests: FakeTest[];
  const names = (list: FakeTest[]): string[] => list.map((t) => path.basename(t.path));

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'stryker-seq-'));
    tests = ['c.test.ts', 'a.test.ts', 'b.test.ts'].map((f) => ({
      path: path.join(root, f),
      context: { config: { rootDir: root } },
    }));
  });
  afterEach(async () => {
    delete process.env[ACTIVE_MUTANT];
    const state = await strykerState();
    state.coverageAnalysis = 'off';
    state.instrumenterContext = {};
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** The initial run: a and b reached mutant 2, only a reached mutant 1, c reached none. */
  async function recordInitialRun(Sequencer: new () => Sequencer): Promise<void> {
    const state = await strykerState();
    state.coverageAnalysis = 'perTest';
    state.instrumenterContext = {
      mutantCoverage: { perTest: { 'A one': { '1': 1, '2': 3 }, 'B two': { '2': 1 } } },
    };
    const file = (name: string, runtime: number, test: string): FileResult => ({
      testFilePath: path.join(root, name),
      perfStats: { runtime },
      testResults: [{ fullName: test }],
    });
    new Sequencer().cacheResults(tests, {
      testResults: [
        file('a.test.ts', 900, 'A one'),
        file('b.test.ts', 100, 'B two'),
        file('c.test.ts', 50, 'C three'),
      ],
    });
    state.coverageAnalysis = 'off';
  }

  it('runs every file, in path order, outside a mutant run', async () => {
    const Sequencer = await loadSequencer();
    await recordInitialRun(Sequencer);
    expect(names(new Sequencer().sort(tests))).toEqual(['a.test.ts', 'b.test.ts', 'c.test.ts']);
  });

  it('runs only the files whose tests reached the active mutant, fastest first', async () => {
    const Sequencer = await loadSequencer();
    await recordInitialRun(Sequencer);
    process.env[ACTIVE_MUTANT] = '2';
    expect(names(new Sequencer().sort(tests))).toEqual(['b.test.ts', 'a.test.ts']);
    process.env[ACTIVE_MUTANT] = '1';
    expect(names(new Sequencer().sort(tests))).toEqual(['a.test.ts']);
  });

  it('runs every file for a mutant the initial run did not record', async () => {
    const Sequencer = await loadSequencer();
    await recordInitialRun(Sequencer);
    process.env[ACTIVE_MUTANT] = '7';
    expect(names(new Sequencer().sort(tests))).toEqual(['a.test.ts', 'b.test.ts', 'c.test.ts']);
  });

  it('records nothing from a run without per-test coverage (a mutant run)', async () => {
    const Sequencer = await loadSequencer();
    const state = await strykerState();
    state.instrumenterContext = { mutantCoverage: { perTest: { 'A one': { '1': 1 } } } };
    new Sequencer().cacheResults(tests, {
      testResults: [
        {
          testFilePath: tests[1].path,
          perfStats: { runtime: 1 },
          testResults: [{ fullName: 'A one' }],
        },
      ],
    });
    expect(fs.readdirSync(root)).toEqual([]);
    process.env[ACTIVE_MUTANT] = '1';
    expect(new Sequencer().sort(tests)).toHaveLength(3);
  });
});

describe('mutation-run bailing runner', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'stryker-bail-'));
    fs.writeFileSync(
      path.join(root, '1-fails.test.cjs'),
      "test('fails', () => { throw new Error('mutant killed'); });\n",
    );
    fs.writeFileSync(
      path.join(root, '2-marks.test.cjs'),
      "test('marks', () => { require('node:fs').writeFileSync(__dirname + '/ran', ''); });\n",
    );
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Runs jest on the two files (path order, via the sequencer) and says whether the second ran. */
  function runJest(env: NodeJS.ProcessEnv): { status: number | null; secondRan: boolean } {
    fs.rmSync(path.join(root, 'ran'), { force: true });
    const config = {
      rootDir: root,
      testMatch: ['**/*.test.cjs'],
      runner: path.join(HARNESS, 'stryker-bail-runner.cjs'),
      testSequencer: path.join(HARNESS, 'stryker-sequencer.mjs'),
    };
    const jest = path.resolve('node_modules/jest/bin/jest.js');
    const run = spawnSync(
      process.execPath,
      [jest, '--config', JSON.stringify(config), '--runInBand', '--no-watchman', '--ci'],
      { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 },
    );
    return { status: run.status, secondRan: fs.existsSync(path.join(root, 'ran')) };
  }

  it('stops at the first failing file while a mutant is active', () => {
    const { status, secondRan } = runJest({ [ACTIVE_MUTANT]: '3' });
    expect(status).toBe(1);
    expect(secondRan).toBe(false);
  });

  it('runs every file when no mutant is active', () => {
    expect(process.env[ACTIVE_MUTANT]).toBeUndefined();
    const { status, secondRan } = runJest({});
    expect(status).toBe(1);
    expect(secondRan).toBe(true);
  });
});
