import { randomBytes } from 'node:crypto';
import { assertText } from '../util/arguments.js';
import type { TierStack } from './tier-stack.js';

/** How long a namespace's version key lives in L2, in ms (30 days). */
const NAMESPACE_VERSION_TTL_MS = 30 * 86_400_000;

/** Longest namespace name accepted, in characters. */
const MAX_NAMESPACE_LENGTH = 200;

function newVersion(): string {
  return randomBytes(6).toString('hex');
}

/**
 * Namespace versions. A namespaced key is stored under `{prefix}:!ns:{name}:{version}:…`;
 * clearing a namespace stores a new version, so its old keys are never read again (an O(1)
 * clear; they expire on their own). Versions live in L2 and are kept here as stored-key heads.
 */
export class Namespaces {
  /** Namespace name → the stored-key head of its current version. */
  private readonly heads = new Map<string, string>();

  constructor(private readonly stack: TierStack) {}

  /** The stored-key head of `namespace` when its version is known here, else `undefined` (then `load`). */
  cachedHead(namespace: string): string | undefined {
    return this.heads.get(namespace);
  }

  /** Checks `namespace`, reads its version from L2 (creating it with SET NX when absent) and answers its head. */
  async load(namespace: string): Promise<string> {
    assertText(namespace, 'namespace', MAX_NAMESPACE_LENGTH);
    const { store, keys } = this.stack;
    const versionKey = keys.namespaceVersionKey(namespace);
    for (let attempt = 0; attempt < 2; attempt++) {
      const stored = await store.get(versionKey);
      if (stored !== undefined) return this.adopt(namespace, stored);
      const fresh = newVersion();
      const created = await store.acquireLock(versionKey, fresh, NAMESPACE_VERSION_TTL_MS);
      if (created === 'acquired') return this.adopt(namespace, fresh);
      // L2 down: a local version for now, not remembered.
      if (created === 'unavailable') return keys.namespaceHead(namespace, fresh);
    }
    return keys.namespaceHead(namespace, newVersion());
  }

  /** Makes `version` the current one of `namespace` here (a clear on this or another instance); answers its head. */
  adopt(namespace: string, version: string): string {
    const head = this.stack.keys.namespaceHead(namespace, version);
    this.heads.set(namespace, head);
    return head;
  }

  /** Clears `namespace` everywhere: stores a new version in L2, uses it here, tells the other instances. */
  async clear(namespace: string): Promise<void> {
    assertText(namespace, 'namespace', MAX_NAMESPACE_LENGTH);
    const version = newVersion();
    await this.stack.store.set(
      this.stack.keys.namespaceVersionKey(namespace),
      version,
      NAMESPACE_VERSION_TTL_MS,
    );
    this.adopt(namespace, version);
    await this.stack.publish({ kind: 'namespace', namespace, version });
  }

  /** Forgets every known version (after a clear-all); the next use reads them from L2 again. */
  forgetAll(): void {
    this.heads.clear();
  }
}
