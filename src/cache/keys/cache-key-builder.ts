import { CacheValidationError } from '../errors/cache-errors.js';
import { CacheKeyType, isCacheKeyType } from './cache-key-type.js';

/** Characters a caller-supplied segment may never carry unescaped (separator, glob, escape, space). */
const UNSAFE_SEGMENT = /[%:*?[\]\\\s\x00-\x1f\x7f]/g;
/** Characters a logical key (already built) may never carry: glob and escape metacharacters. */
const UNSAFE_KEY = /[*?[\]\\\s\x00-\x1f\x7f]/;
const PREFIX = /^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*$/;
/** Longest logical key accepted, in characters. */
export const MAX_KEY_LENGTH = 1024;

/** One key segment as a caller may supply it. */
export type KeySegment = string | number;

/** A caller's key resolved once at a cache's entry: checked, typed and in its stored form. */
export interface ResolvedKey {
  /** The key as stored: `{prefix}:{logical key}`, or under a namespace's head. */
  readonly storageKey: string;
  /** The caller's key type, else the one the logical key starts with (`undefined`: none). */
  readonly type: CacheKeyType | undefined;
}

/**
 * Builds every key the module stores, in one place: `{prefix}:{data_type}:{entity_id}:{params…}`.
 *
 * Caller-supplied segments are percent-escaped (`%`, `:`, `*`, `?`, `[`, `]`, `\`, white space and
 * control characters), so the encoding is one-to-one and no input can widen a pattern flush or
 * collide with another key. Internal keys (locks, namespace versions) live under `{prefix}:!…`,
 * which no logical key can reach.
 */
export class CacheKeyBuilder {
  /** The global prefix (tenant/app) in front of every stored key; default `mc`. */
  readonly prefix: string;
  /** `{prefix}:`, the head of every stored key outside a namespace. */
  private readonly head: string;

  constructor(prefix = 'mc') {
    if (!PREFIX.test(prefix)) {
      throw new CacheValidationError(
        'keyPrefix',
        `keyPrefix '${prefix}' must be letters, digits, '_', '.', '-' in ':'-separated parts`,
      );
    }
    this.prefix = prefix;
    this.head = prefix + ':';
  }

  /** Escapes one caller-supplied segment (one-to-one; the result has no `:` or glob characters). */
  static escape(segment: KeySegment): string {
    return String(segment).replace(
      UNSAFE_SEGMENT,
      (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'),
    );
  }

  /** Reverses `escape`. */
  static unescape(segment: string): string {
    return segment.replace(/%([0-9A-F]{2})/g, (_, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    );
  }

  /** The logical key `{type}:{entity}:{params…}` (no prefix), every segment escaped. */
  build(type: CacheKeyType, entityId: KeySegment, ...params: KeySegment[]): string {
    let key = `${type}:${CacheKeyBuilder.escape(entityId)}`;
    for (const p of params) key += ':' + CacheKeyBuilder.escape(p);
    return key;
  }

  /** `stock_price:{ticker}:latest` */
  stockPrice(ticker: string): string {
    return this.build(CacheKeyType.STOCK_PRICE, ticker, 'latest');
  }
  /** `financial_data:{ticker}:{period}:{quarter}` */
  financialData(ticker: string, period: string, quarter: string): string {
    return this.build(CacheKeyType.FINANCIAL_DATA, ticker, period, quarter);
  }
  /** `ai_analysis:{ticker}:{analysisType}` */
  aiAnalysis(ticker: string, analysisType: string): string {
    return this.build(CacheKeyType.AI_ANALYSIS, ticker, analysisType);
  }
  /** `news_data:{ticker}:{category}` */
  newsData(ticker: string, category: string): string {
    return this.build(CacheKeyType.NEWS_DATA, ticker, category);
  }
  /** `user_session:{userId}` */
  userSession(userId: string): string {
    return this.build(CacheKeyType.USER_SESSION, userId);
  }
  /** `api_quota:{userId}:{window}` */
  apiQuota(userId: string, window: string): string {
    return this.build(CacheKeyType.API_QUOTA, userId, window);
  }

  /**
   * Checks a logical key supplied whole by a developer (e.g. to `getOrSet`): non-empty, at most
   * 1024 characters, no glob/escape characters or white space, not starting with `!`.
   */
  assertLogicalKey(key: string, field = 'key'): void {
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw new CacheValidationError(
        field,
        `${field} must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`,
        'CACHE_INVALID_KEY',
      );
    }
    if (UNSAFE_KEY.test(key) || key.charCodeAt(0) === 33 /* ! */) {
      throw new CacheValidationError(
        field,
        `${field} contains '*', '?', '[', ']', '\\', white space or a leading '!'; build it with CacheKeyBuilder`,
        'CACHE_INVALID_KEY',
      );
    }
  }

  /** The stored key of a logical key, optionally inside a namespace at a given version. */
  storageKey(logicalKey: string, namespace?: { name: string; version: string }): string {
    if (!namespace) return this.head + logicalKey;
    return this.namespaceHead(namespace.name, namespace.version) + logicalKey;
  }

  /** What every stored key of `namespace` at `version` starts with: `{prefix}:!ns:{name}:{version}:`. */
  namespaceHead(namespace: string, version: string): string {
    return `${this.prefix}:!ns:${CacheKeyBuilder.escape(namespace)}:${version}:`;
  }

  /**
   * Resolves a caller's logical key once: checks it (`assertLogicalKey`, naming `field`), takes
   * `keyType` or the type it starts with, and builds its stored key, under `namespaceHead` (from
   * `namespaceHead()`) when given.
   */
  resolve(
    logicalKey: string,
    keyType?: CacheKeyType,
    namespaceHead?: string,
    field = 'key',
  ): ResolvedKey {
    this.assertLogicalKey(logicalKey, field);
    return {
      storageKey: (namespaceHead ?? this.head) + logicalKey,
      type: keyType ?? this.typeOf(logicalKey),
    };
  }

  /** The logical key of a stored key built by `storageKey` without namespace (undefined otherwise). */
  logicalKeyOf(storageKey: string): string | undefined {
    const head = this.head;
    if (!storageKey.startsWith(head) || storageKey.charCodeAt(head.length) === 33) return undefined;
    return storageKey.slice(head.length);
  }

  /** The key type a logical key starts with, if any. */
  typeOf(logicalKey: string): CacheKeyType | undefined {
    const end = logicalKey.indexOf(':');
    const head = end < 0 ? logicalKey : logicalKey.slice(0, end);
    return isCacheKeyType(head) ? head : undefined;
  }

  /** The stored key of the distributed lock guarding a stored key. */
  lockKey(storageKey: string): string {
    return `${this.prefix}:!lock:${storageKey.slice(this.prefix.length + 1)}`;
  }

  /** The stored key holding the current version of a namespace. */
  namespaceVersionKey(namespace: string): string {
    return `${this.prefix}:!nsv:${CacheKeyBuilder.escape(namespace)}`;
  }

  /** The pub/sub channel of the cross-instance invalidation bus. */
  busChannel(): string {
    return `${this.prefix}:!bus`;
  }

  /** A SCAN pattern (relative `pattern` under the prefix); the caller's glob is kept as is. */
  pattern(relativePattern: string): string {
    return `${this.prefix}:${relativePattern}`;
  }

  /** Every stored key of this module (data, namespaces, locks). */
  allKeysPattern(): string {
    return `${this.prefix}:*`;
  }

  /**
   * The SCAN pattern and exact-match test for keys of one type, optionally one entity.
   * The test rejects keys that the glob matches only by accident (e.g. entity `AAPL` vs `AAPLX`).
   */
  entityMatcher(
    type: CacheKeyType | undefined,
    entityId?: KeySegment,
  ): { pattern: string; matches: (storageKey: string) => boolean } {
    const entity = entityId === undefined ? undefined : CacheKeyBuilder.escape(entityId);
    const pattern = `${this.prefix}:${type ?? '*'}:${entity ?? '*'}`;
    const head = this.head;
    const matches = (storageKey: string): boolean => {
      if (!storageKey.startsWith(head)) return false;
      const parts = storageKey.slice(head.length).split(':');
      if (parts.length < 2) return false;
      if (type ? parts[0] !== type : !isCacheKeyType(parts[0])) return false;
      return entity === undefined || parts[1] === entity;
    };
    // `prefix:type:entity*` covers both `…:entity` and `…:entity:params`; `matches` trims the rest.
    return { pattern: entity === undefined ? pattern : pattern + '*', matches };
  }

  /** `price_bars:{ticker}:{YYYY-MM-DD}` — one day's bucket of a ticker's daily bars (range cache). */
  priceBarDay(ticker: string, date: string): string {
    return this.build(CacheKeyType.PRICE_BARS, ticker, date);
  }

  /** `price_bars:{ticker}:{YYYY-MM}` — a closed month's bucket of a ticker's daily bars (range cache). */
  priceBarMonth(ticker: string, month: string): string {
    return this.build(CacheKeyType.PRICE_BARS, ticker, month);
  }
  /**
   * `market_data:trades:{signature}:{YYYY-MM-DD}` — a trades query's day index (range cache);
   * with `part`, `…:{YYYY-MM-DD}:{part}` holds that part's trades.
   */
  tradeDay(signature: string, date: string, part?: number): string {
    return part === undefined
      ? this.build(CacheKeyType.MARKET_DATA, 'trades', signature, date)
      : this.build(CacheKeyType.MARKET_DATA, 'trades', signature, date, part);
  }
}
