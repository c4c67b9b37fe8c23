/**
 * A `package-lock.json` for a throw-away consumer app, derived from this repository's lock, so
 * `npm ci --offline` installs it from the local npm cache alone: every tarball it names is one the
 * repository's own `npm ci` put there (found by integrity), and no registry metadata is needed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** One `packages` entry of a lockfile v3. */
interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

/** The parts of a package.json the derivation reads. */
export interface Manifest {
  name: string;
  version?: string;
  license?: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** The library tarball the consumer installs: its manifest, its path relative to the app, the file. */
export interface PackedLibrary {
  manifest: Manifest;
  /** As written in the app's package.json, e.g. `file:../market-cache-0.1.0.tgz`. */
  spec: string;
  /** Absolute path of the tarball (its sha512 goes into the lock). */
  tarball: string;
}

/**
 * The lockfile of `app`: its own dependencies (all but the library) and the library's dependencies
 * and peers, with everything they need, laid out as in the repository's lock (`repoLockPath`); the
 * library itself as a `file:` tarball entry; `registry` is npm's (`npm config get registry`), for
 * the tarball URLs. Throws, naming it, when a package is not in the repository's lock (then it
 * cannot come from the cache the repository's install filled).
 */
export function deriveOfflineLock(
  repoLockPath: string,
  app: Manifest,
  library: PackedLibrary,
  registry: string,
): object {
  const repo = JSON.parse(readFileSync(repoLockPath, 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const all = repo.packages;
  const out: Record<string, LockEntry> = {
    '': { name: app.name, dependencies: app.dependencies, devDependencies: app.devDependencies },
  };
  const queue: string[] = [];

  // Node's resolution over lock paths: `a/node_modules/b` first, then each parent, then the root.
  const resolveFrom = (from: string, name: string): string | undefined => {
    let dir = from;
    for (;;) {
      const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (all[candidate]) return candidate;
      if (!dir) return undefined;
      const i = dir.lastIndexOf('/node_modules/');
      dir = i < 0 ? '' : dir.slice(0, i);
    }
  };
  const want = (from: string, name: string, optional = false): void => {
    const at = resolveFrom(from, name);
    if (!at) {
      if (optional) return;
      throw new Error(`${name} (needed by ${from || 'the app'}) is not in the repository's lock`);
    }
    if (out[at]) return;
    // Flags (dev, peer, optional) describe the repository's tree, not this one: npm recomputes them.
    const entry: LockEntry = { ...all[at] };
    for (const flag of ['dev', 'devOptional', 'peer', 'optional']) delete entry[flag];
    // The repository's lock leaves registry URLs out (omit-lockfile-registry-resolved); with one,
    // npm takes the tarball from the cache by its integrity and asks for no metadata.
    entry.resolved ??= tarballUrl(registry, at.slice(at.lastIndexOf('node_modules/') + 13), entry);
    out[at] = entry;
    queue.push(at);
  };

  const direct = { ...app.dependencies, ...app.devDependencies };
  for (const name of Object.keys(direct)) if (name !== library.manifest.name) want('', name);
  const lib = library.manifest;
  for (const name of Object.keys({ ...lib.dependencies, ...lib.peerDependencies })) want('', name);
  while (queue.length > 0) {
    const at = queue.shift() as string;
    const e = all[at];
    for (const n of Object.keys(e.dependencies ?? {})) want(at, n);
    for (const n of Object.keys(e.optionalDependencies ?? {})) want(at, n, true);
    // npm installs required peers; optional ones only when something else asks for them.
    for (const n of Object.keys(e.peerDependencies ?? {}))
      if (!e.peerDependenciesMeta?.[n]?.optional) want(at, n);
  }

  const digest = createHash('sha512').update(readFileSync(library.tarball)).digest('base64');
  out[`node_modules/${lib.name}`] = {
    version: lib.version,
    resolved: library.spec,
    integrity: `sha512-${digest}`,
    license: lib.license,
    dependencies: lib.dependencies,
    peerDependencies: lib.peerDependencies,
    engines: lib.engines,
  };
  return { name: app.name, lockfileVersion: 3, requires: true, packages: out };
}

/** The registry's tarball URL of a package version: `{registry}/{name}/-/{basename}-{version}.tgz`. */
function tarballUrl(registry: string, name: string, entry: LockEntry): string {
  if (!entry.version) throw new Error(`${name} has no version in the repository's lock`);
  const base = name.slice(name.lastIndexOf('/') + 1);
  return `${registry.replace(/\/+$/, '')}/${name}/-/${base}-${entry.version}.tgz`;
}
