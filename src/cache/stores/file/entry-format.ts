/**
 * The on-disk record of one key, `<category>/<sha256(key)>.entry`: a JSON header line
 * `{"v":1,"k":key,"e":expiresAtMs,"n":valueBytes}`, `\n`, then the value in UTF-8. Decoding
 * verifies the header, the key and the length, so a truncated or corrupt file is never served.
 */
import { createHash } from 'node:crypto';
import { CacheValidationError } from '../../errors/cache-errors.js';

/** File name suffix of an entry file. */
export const ENTRY_SUFFIX = '.entry';
/** File name suffix of a temporary file (an entry being written, or a health probe). */
export const TMP_SUFFIX = '.tmp';
/** Name of an entry file: the hex SHA-256 of its key, then `.entry`. */
export const ENTRY_NAME = /^[0-9a-f]{64}\.entry$/;
/** Longest header line accepted, in bytes (bounds the key length). */
export const MAX_HEADER_BYTES = 64 * 1024;

const HEADER_VERSION = 1;
const NEWLINE = 0x0a;

/** The header line of a record. */
export interface FileRecordHeader {
  v: number;
  /** The key. */
  k: string;
  /** Expiry, ms since the epoch. */
  e: number;
  /** Value length in bytes. */
  n: number;
}

/** What reading a record found: a verified value, or why there is none. */
export type FileRecordRead =
  | { kind: 'hit'; value: string; expiresAt: number }
  | { kind: 'missing' }
  | { kind: 'expired' }
  | { kind: 'corrupt' }
  | { kind: 'error' };

/** The file name stem of `key`: its SHA-256 in hex. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Header line + value of `key`, expiring at `expiresAt` (ms since the epoch), ready to write.
 * @throws CacheValidationError when the key makes the header too long.
 */
export function encodeFileRecord(key: string, value: string, expiresAt: number): Buffer {
  const valueBytes = Buffer.byteLength(value, 'utf8');
  const header: FileRecordHeader = { v: HEADER_VERSION, k: key, e: expiresAt, n: valueBytes };
  const headerText = JSON.stringify(header) + '\n';
  const headerBytes = Buffer.byteLength(headerText, 'utf8');
  if (headerBytes > MAX_HEADER_BYTES) {
    throw new CacheValidationError(
      'key',
      `key is too long for the file store (header over ${MAX_HEADER_BYTES} bytes)`,
      'CACHE_INVALID_KEY',
    );
  }
  const buf = Buffer.allocUnsafe(headerBytes + valueBytes);
  buf.write(headerText, 0, 'utf8');
  buf.write(value, headerBytes, 'utf8');
  return buf;
}

/**
 * Verifies a whole record read for `key` at `nowMs` (ms since the epoch): `hit` with its value,
 * `expired`, or `corrupt` when the header, the key or the length does not match.
 */
export function decodeFileRecord(buf: Buffer, key: string, nowMs: number): FileRecordRead {
  const nl = buf.indexOf(NEWLINE);
  if (nl < 0 || nl > MAX_HEADER_BYTES) return { kind: 'corrupt' };
  const header = parseFileRecordHeader(buf.subarray(0, nl));
  if (!header || header.k !== key || header.n !== buf.length - nl - 1) return { kind: 'corrupt' };
  if (header.e <= nowMs) return { kind: 'expired' };
  return { kind: 'hit', value: buf.toString('utf8', nl + 1), expiresAt: header.e };
}

/**
 * The header of a record of `fileSize` bytes from the first `filled` bytes read into `buf`
 * (`searchFrom` skips bytes already searched): the header when it is complete and its length
 * matches the file, `'corrupt'` when it cannot be a valid one, `'more'` when more bytes are needed.
 */
export function scanFileRecordHeader(
  buf: Buffer,
  searchFrom: number,
  filled: number,
  fileSize: number,
): FileRecordHeader | 'corrupt' | 'more' {
  const nl = buf.indexOf(NEWLINE, searchFrom);
  if (nl >= 0 && nl < filled) {
    const header = parseFileRecordHeader(buf.subarray(0, nl));
    return header && nl + 1 + header.n === fileSize ? header : 'corrupt';
  }
  return filled >= MAX_HEADER_BYTES ? 'corrupt' : 'more';
}

/** The header of a record from its first line, or `undefined` when it is not a valid one. */
export function parseFileRecordHeader(line: Buffer): FileRecordHeader | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    // Not JSON: the caller counts the file as corrupt.
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const h = parsed as Partial<Record<keyof FileRecordHeader, unknown>>;
  if (
    h.v !== HEADER_VERSION ||
    typeof h.k !== 'string' ||
    typeof h.e !== 'number' ||
    !Number.isFinite(h.e)
  )
    return undefined;
  if (typeof h.n !== 'number' || !Number.isSafeInteger(h.n) || h.n < 0) return undefined;
  return { v: h.v, k: h.k, e: h.e, n: h.n };
}
