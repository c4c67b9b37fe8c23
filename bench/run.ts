/** `npm run bench`: every benchmark section in one run, printed as one Markdown table. */
import os from 'node:os';
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

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const rows: BenchRow[] = [];
  for (const [name, run] of Object.entries(sections)) {
    if (only.length && !only.includes(name)) continue;
    process.stderr.write(`running ${name} …\n`);
    rows.push(...(await run()));
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
