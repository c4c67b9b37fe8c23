import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when the module at `moduleUrl` (pass `import.meta.url`) is the process entry point — ESM's `require.main === module`. */
export function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch (err) {
    // An entry path that does not exist on disk (e.g. `node -e`) is not this module.
    if ((err as { code?: string }).code === 'ENOENT') return false;
    throw err;
  }
}
