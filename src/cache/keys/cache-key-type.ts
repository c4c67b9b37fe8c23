/** The kinds of data the cache holds; each has its own TTL and staleness policy. */
export enum CacheKeyType {
  STOCK_PRICE = 'stock_price',
  FINANCIAL_DATA = 'financial_data',
  NEWS_DATA = 'news_data',
  AI_ANALYSIS = 'ai_analysis',
  USER_SESSION = 'user_session',
  API_QUOTA = 'api_quota',
  MARKET_DATA = 'market_data',
  PRICE_BARS = 'price_bars',
}

/** Every key type, in declaration order. */
export const ALL_KEY_TYPES: readonly CacheKeyType[] = Object.values(CacheKeyType);

const KEY_TYPE_SET: ReadonlySet<string> = new Set(ALL_KEY_TYPES);

/** True when `value` is one of the `CacheKeyType` values. */
export function isCacheKeyType(value: unknown): value is CacheKeyType {
  return typeof value === 'string' && KEY_TYPE_SET.has(value);
}
