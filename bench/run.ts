/**
 * `npm run bench`: every benchmark section in one run, printed as one Markdown table. Each
 * section runs in a process of its own (this script, started again with `--section`), so no
 * section inherits another's heap, JIT state or open handles: five-year bars from L1 measured
 * 12,600–14,300 answers/s with the range section alone and 5,000 after the core section in
 * one process (2026-12-03).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAppBarsBench } from './app-bars.bench.js';
import { runCoreBench } from './core.bench.js';
import { runDeployBench } from './deploy.bench.js';
import { runFileStoreBench } from './file-store.bench.js';
import { runHttpBench } from './http.bench.js';
import { runMarketSourceBench } from './market-source.bench.js';
import { runRangeBench } from './range.bench.js';
import { runVendorBudgetBench } from './vendor-budget.bench.js';
import { formatTable, type BenchRow } from './lib.js';

const sections: Record<string, () => Promise<BenchRow[]>> = {
  core: runCoreBench,
  'file-store': runFileStoreBench,
  'market-source': runMarketSourceBench,
  range: runRangeBench,
  http: () => runHttpBench(),
  'http-bars': runAppBarsBench,
  deploy: () => runDeployBench(),
  'vendor-budget': runVendorBudgetBench,
};

/** Flag of a child run: `--section <name> <file>` runs one section and writes its rows to `file` as JSON. */
const SECTION_FLAG = '--section';

/** Runs section `name` in a child process (same Node flags) and answers its rows. */
async function runInChild(name: string): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'market-cache-bench-'));
  const out = path.join(dir, 'rows.json');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), SECTION_FLAG, name, out],
        { stdio: 'inherit' },
      );
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`bench section ${name} exited with code ${String(code)}`);
    return JSON.parse(fs.readFileSync(out, 'utf8')) as BenchRow[];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === SECTION_FLAG) {
    const run = sections[args[1]];
    if (!run || !args[2]) throw new Error(`usage: run.js ${SECTION_FLAG} <section> <rows file>`);
    fs.writeFileSync(args[2], JSON.stringify(await run()));
    return;
  }
  const unknown = args.filter((name) => !(name in sections));
  if (unknown.length)
    throw new Error(
      `unknown bench section(s): ${unknown.join(', ')}; sections: ${Object.keys(sections).join(', ')}`,
    );
  const rows: BenchRow[] = [];
  for (const name of Object.keys(sections)) {
    if (args.length && !args.includes(name)) continue;
    process.stderr.write(`running ${name} …\n`);
    rows.push(...(await runInChild(name)));
  }
  console.log(
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`,
  );
  console.log(formatTable(rows));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
