import { createHash } from 'node:crypto';
import { CacheKeyBuilder, MAX_KEY_LENGTH } from '../keys/cache-key-builder.js';

/**
 * Marks the digest form of a Keyv key too long to store escaped. Escaping never produces `%%`
 * (every `%` it writes is followed by two hex digits), so no escaped key can take this form.
 */
export const KEYV_DIGEST_MARK = '%%';
/** Characters of the escaped key kept, after the digest, to keep a digest key readable. */
const READABLE_CHARACTERS = 96;
/** Longest first segment kept in front of a digest key (when the namespace is not known). */
const MAX_HEAD_LENGTH = 128;

/** One `:`-separated segment of a Keyv key, escaped (a leading `!` too, in the first one). */
function escapeSegment(segment: string, first: boolean): string {
  return first && segment.startsWith('!')
    ? '%21' + CacheKeyBuilder.escape(segment.slice(1))
    : CacheKeyBuilder.escape(segment);
}

/** A Keyv key with each `:`-separated segment escaped: one-to-one, no glob characters. */
function escapeKey(key: string): string {
  return key
    .split(':')
    .map((segment, i) => escapeSegment(segment, i === 0))
    .join(':');
}

/**
 * The logical cache key a Keyv key (`{namespace}:{key}`) is stored under.
 *
 * Up to `MAX_KEY_LENGTH` (1024) characters once escaped, it is the key with every character a
 * logical key may not carry percent-escaped, per `:`-separated segment (one-to-one). A longer key
 * takes a digest form, `{head}:%%{sha256 of the whole key}:{first escaped characters}`: `head` is
 * the escaped namespace (or, when `namespace` is not given or does not match, the key's first
 * segment), so a flush of the namespace (`{namespace}:*`) and `clear()` still cover it.
 */
export function keyvLogicalKey(key: string, namespace?: string): string {
  const escaped = escapeKey(key);
  if (escaped.length <= MAX_KEY_LENGTH) return escaped;
  const digest = createHash('sha256').update(key, 'utf8').digest('hex');
  const head = digestHead(key, escaped, namespace);
  const readable = escaped.slice(head.length, head.length + READABLE_CHARACTERS);
  return `${head}${KEYV_DIGEST_MARK}${digest}:${readable}`;
}

/** True for a logical key in the digest form (the Keyv key is then kept beside the value). */
export function isDigestKey(logicalKey: string): boolean {
  return logicalKey.includes(KEYV_DIGEST_MARK);
}

/** The Keyv key of a logical key in the escaped (not digest) form. */
export function keyvKeyOf(logicalKey: string): string {
  return CacheKeyBuilder.unescape(logicalKey);
}

/** The escaped `{namespace}:` (or first segment and `:`) a digest key starts with; `''` when none fits. */
function digestHead(key: string, escaped: string, namespace: string | undefined): string {
  if (namespace && key.startsWith(namespace + ':')) return escapeKey(namespace) + ':';
  const end = escaped.indexOf(':');
  return end > 0 && end < MAX_HEAD_LENGTH ? escaped.slice(0, end + 1) : '';
}
