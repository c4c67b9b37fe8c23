/**
 * The layout the README promises, checked on the source: files stay short, classes stay small,
 * imports never go up a layer and never form a cycle, and the app reaches the library only
 * through its barrel.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');

function listTs(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listTs(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative `import … from './x.js'` / `export … from` targets of a file, resolved to .ts paths under src/. */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push(resolve(dirname(file), m[1].replace(/\.js$/, '.ts')));
  }
  return out;
}

const files = listTs(src);
const texts = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
const graph = new Map(files.map((f) => [f, importsOf(f, texts.get(f) as string)]));
const rel = (f: string) => relative(root, f);

/** The layer of a library file: higher numbers may import lower ones, never the reverse. */
function layerOf(file: string): number | undefined {
  const r = relative(join(src, 'cache'), file);
  if (r.startsWith('..')) return undefined;
  if (/^(util|errors)\//.test(r)) return 0;
  if (/^keys\//.test(r) || r === 'constants.ts') return 1;
  if (/^stores\//.test(r)) return 2;
  if (/^tiered\//.test(r)) return 3;
  if (
    /^(range\/|cache\.service|cache\.manager|quota\.service|session\.service|cache-health|market-cache\.options)/.test(
      r,
    )
  )
    return 4;
  return 5; // the Nest side: http/, guards/, compat/, health/, metrics/, decorators/, the module
}

describe('source layout', () => {
  it('keeps every file under src/ at 400 lines or fewer', () => {
    const long = files
      .map((f) => ({ file: rel(f), lines: (texts.get(f) as string).split('\n').length }))
      .filter((x) => x.lines > 400);
    expect(long).toEqual([]);
  });

  it('keeps every class at 25 methods or fewer', () => {
    const big: string[] = [];
    for (const f of files) {
      const text = texts.get(f) as string;
      // A class body runs from `class X` to the first line that is exactly `}`.
      const re = /\nexport (?:abstract )?class (\w+)[^\n]*\{\n([\s\S]*?)\n\}/g;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const methods = m[2].match(
          /^ {2}(?:(?:public|private|protected|static|async|readonly|override|get|set)\s+)*[#\w]+\s*(?:<[^>]*>)?\(/gm,
        );
        const count = (methods ?? []).filter(
          (s) => !/^\s*(if|for|while|switch|return)\b/.test(s),
        ).length;
        if (count > 25) big.push(`${rel(f)}: ${m[1]} has ${count} methods`);
      }
    }
    expect(big).toEqual([]);
  });

  it('has no import cycles under src/', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      stack.push(f);
      for (const to of graph.get(f) ?? []) {
        if (!graph.has(to)) continue;
        if (state.get(to) === 'open')
          cycles.push([...stack.slice(stack.indexOf(to)), to].map(rel).join(' -> '));
        else if (!state.has(to)) visit(to);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('never imports from a higher layer of the library into a lower one', () => {
    const upward: string[] = [];
    for (const [from, tos] of graph) {
      const a = layerOf(from);
      if (a === undefined) continue;
      for (const to of tos) {
        const b = layerOf(to);
        if (b !== undefined && b > a) upward.push(`${rel(from)} -> ${rel(to)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('keeps the stores and the tiered cache free of Nest', () => {
    const nest = files
      .filter((f) => /\/src\/cache\/(stores|tiered)\//.test(f))
      .filter((f) => /from '@nestjs\//.test(texts.get(f) as string))
      .map(rel);
    expect(nest).toEqual([]);
  });

  it('lets the app reach the library only through src/cache/index.ts', () => {
    const deep: string[] = [];
    for (const [from, tos] of graph) {
      if (layerOf(from) !== undefined) continue;
      for (const to of tos)
        if (layerOf(to) !== undefined && to !== join(src, 'cache', 'index.ts'))
          deep.push(`${rel(from)} -> ${rel(to)}`);
    }
    expect(deep).toEqual([]);
  });
});
