/**
 * Reading the packaging files without Docker: a small Dockerfile parser (instructions, stages,
 * exec-form arrays), docker-compose.yml through `yaml` with Compose's `${VAR:-default}`
 * interpolation, the environment names the config loaders read, and the packages the app imports
 * at run time (followed from its entry points, type-only imports left out).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The checkout these files belong to. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Reads a file of the checkout as text. */
export function repoText(path: string): string {
  return readFileSync(join(REPO_ROOT, path), 'utf8');
}

// ---------------------------------------------------------------- Dockerfile

/** One Dockerfile instruction: its keyword (upper case), raw arguments, and the JSON array of an exec form. */
export interface DockerInstruction {
  keyword: string;
  args: string;
  exec?: string[];
}

/** A build stage: `FROM image [AS name]` and the instructions up to the next `FROM`. */
export interface DockerStage {
  image: string;
  name?: string;
  instructions: DockerInstruction[];
}

/** The JSON array of an exec-form argument (`["a", "b"]`), or undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string'))
    throw new Error(`not an exec-form array: ${args}`);
  return parsed as string[];
}

/** Parses a Dockerfile: comments dropped, `\` continuations joined, instructions grouped by stage. */
export function parseDockerfile(text: string): {
  args: DockerInstruction[];
  stages: DockerStage[];
} {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push((pending + line).trim());
    pending = '';
  }
  if (pending.trim()) logical.push(pending.trim());
  const globalArgs: DockerInstruction[] = [];
  const stages: DockerStage[] = [];
  for (const line of logical.filter(Boolean)) {
    const [, word, rest = ''] = /^(\S+)\s*([\s\S]*)$/.exec(line) ?? [];
    const keyword = word.toUpperCase();
    if (keyword === 'FROM') {
      const [image, as, name] = rest.split(/\s+/).filter((t) => !t.startsWith('--'));
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
      continue;
    }
    const instruction: DockerInstruction = { keyword, args: rest, exec: execForm(rest) };
    if (stages.length === 0) globalArgs.push(instruction);
    else stages[stages.length - 1].instructions.push(instruction);
  }
  return { args: globalArgs, stages };
}

/** The instructions of `stage` with this keyword. */
export function instructionsOf(stage: DockerStage, keyword: string): DockerInstruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** `COPY [--from=stage] src... dest` split into its parts (shell or exec form). */
export function copyParts(i: DockerInstruction): {
  from?: string;
  sources: string[];
  dest: string;
} {
  const words = i.exec ?? i.args.split(/\s+/).filter(Boolean);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] };
}

/** The default of `ARG name=default` in a stage (quotes removed). */
export function argDefault(stage: DockerStage, name: string): string | undefined {
  for (const i of instructionsOf(stage, 'ARG')) {
    const m = /^(\w+)=(.*)$/.exec(i.args.trim());
    if (m && m[1] === name) return m[2].replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

/** `ENV A=1 B=2` of a stage as a map. */
export function stageEnv(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of instructionsOf(stage, 'ENV'))
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S*)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  return env;
}

/** The exec-form command of a `HEALTHCHECK [options] CMD [...]`. */
export function healthcheckCommand(i: DockerInstruction): string[] | undefined {
  const m = /^(?:--\S+\s+)*CMD\s+(\[[\s\S]*\])$/.exec(i.args.trim());
  return m ? execForm(m[1]) : undefined;
}

// ---------------------------------------------------------------- docker-compose.yml

/** The parts of a compose service the tests read. */
export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; target?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target: number; published?: string | number; host_ip?: string })[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string; required?: boolean }>;
  restart?: string;
  profiles?: string[];
  init?: boolean;
  user?: string;
  stop_grace_period?: string;
}

/** docker-compose.yml as data (YAML merge keys `<<:` resolved, as Compose does). */
export function loadCompose(text = repoText('docker-compose.yml')): {
  services: Record<string, ComposeService>;
} {
  return parse(text, { merge: true }) as { services: Record<string, ComposeService> };
}

/** Compose interpolation of one value: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`. */
export function interpolate(value: string, hostEnv: Record<string, string | undefined>): string {
  return value.replace(
    /\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)/g,
    (whole, braced?: string, op?: string, word?: string, bare?: string) => {
      if (whole === '$$') return '$';
      const name = (braced ?? bare)!;
      const v = hostEnv[name];
      const missing = op?.startsWith(':') ? !v : v === undefined;
      if (!missing) return v!;
      if (op?.endsWith('?')) throw new Error(`required variable ${name}: ${word}`);
      return op ? word! : '';
    },
  );
}

/** A service's environment after interpolation with `hostEnv` (the shell or `.env` of the user). */
export function serviceEnv(
  service: ComposeService,
  hostEnv: Record<string, string | undefined> = {},
): Record<string, string> {
  const raw = service.environment ?? {};
  const entries: [string, string][] = Array.isArray(raw)
    ? raw.map((e) => [e.split('=')[0], e.split('=').slice(1).join('=')])
    : Object.entries(raw).map(([k, v]) => [k, v === null ? '' : String(v)]);
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(v, hostEnv)]));
}

/** A published port: the host address it binds (`0.0.0.0` when none is given) and its ports. */
export interface PublishedPort {
  hostIp: string;
  published: string;
  target: string;
}

/** The published ports of a service, short (`[ip:]host:container`) and long syntax. */
export function publishedPorts(service: ComposeService): PublishedPort[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== 'string')
      return {
        hostIp: p.host_ip ?? '0.0.0.0',
        published: String(p.published ?? ''),
        target: String(p.target),
      };
    const m = /^(?:(\[[^\]]+\]|\d+\.\d+\.\d+\.\d+):)?(?:([\d-]+):)?([\d-]+)(?:\/\w+)?$/.exec(
      String(p),
    );
    if (!m) throw new Error(`unreadable port mapping ${p}`);
    return {
      hostIp: m[1]?.replace(/^\[|\]$/g, '') ?? '0.0.0.0',
      published: m[2] ?? '',
      target: m[3],
    };
  });
}

/** The `depends_on` of a service in long syntax. */
export function dependsOn(
  service: ComposeService,
): Record<string, { condition?: string; required?: boolean }> {
  const d = service.depends_on ?? {};
  return Array.isArray(d)
    ? Object.fromEntries(d.map((n) => [n, { condition: 'service_started' }]))
    : d;
}

/** A Compose duration (`20s`, `1m30s`, `500ms`) in milliseconds. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  let total = 0;
  const rest = text.replace(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g, (_, n: string, u: string) => {
    total += Number(n) * units[u];
    return '';
  });
  if (rest.trim() !== '' || text.trim() === '') throw new Error(`unreadable duration '${text}'`);
  return total;
}

// ---------------------------------------------------------------- what the app reads and imports

function listTs(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? listTs(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/**
 * Environment names the app's config loaders read, taken from their source: `config/**` (the
 * loaders), `src/main.ts` and any app file reading `process.env`. Matches `env.NAME`,
 * `env['NAME']` and a NAME literal handed to a reader (`envInt(env, 'NAME', …)`, `list('NAME')`).
 */
export function knownEnvNames(): Set<string> {
  const files = [
    ...listTs('config'),
    'src/main.ts',
    ...listTs('src').filter((f) => repoText(f).includes('process.env')),
  ];
  const names = new Set<string>();
  const patterns = [
    /\benv\.([A-Z][A-Z0-9_]*)\b/g,
    /\benv\[\s*'([A-Z][A-Z0-9_]*)'\s*\]/g,
    /\b\w+\(\s*(?:env\s*,\s*)?'([A-Z][A-Z0-9_]*)'/g,
  ];
  for (const file of new Set(files)) {
    const text = repoText(file);
    for (const re of patterns) for (const m of text.matchAll(re)) names.add(m[1]);
  }
  return names;
}

/** The names of `env` that no config loader reads (a typo, or a setting that does not exist). */
export function unknownEnvNames(env: Record<string, string>, known = knownEnvNames()): string[] {
  return Object.keys(env).filter((n) => !known.has(n));
}

const BUILTINS = new Set(builtinModules);

/** The package of a bare specifier (`@scope/name/sub` → `@scope/name`), or undefined for a relative path or a Node built-in. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('node:') || BUILTINS.has(spec.split('/')[0]))
    return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * Packages the compiled app loads at run time: the import graph followed from `entries`
 * (relative `.js` specifiers resolved to the `.ts` sources), `import type` / `export type` left out
 * (the compiler drops them).
 */
export function runtimePackages(entries: string[]): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const queue = [...entries];
  const statement = /(?:^|\n)\s*(import|export)(\s+type\b)?\s+(?:[^;'"]*?\sfrom\s+)?'([^']+)'/g;
  const dynamic = /\bimport\(\s*'([^']+)'\s*\)/g;
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = repoText(file);
    const specs = [
      ...[...text.matchAll(statement)].filter((m) => !m[2]).map((m) => m[3]),
      ...[...text.matchAll(dynamic)].map((m) => m[1]),
    ];
    for (const spec of specs) {
      if (!spec.startsWith('.')) {
        const name = packageOf(spec);
        if (name) packages.add(name);
        continue;
      }
      const base = join(dirname(file), spec.replace(/\.js$/, ''));
      const target = [`${base}.ts`, join(base, 'index.ts')].find((f) =>
        existsSync(join(REPO_ROOT, f)),
      );
      if (!target) throw new Error(`${file}: cannot resolve '${spec}'`);
      queue.push(target);
    }
  }
  return packages;
}
