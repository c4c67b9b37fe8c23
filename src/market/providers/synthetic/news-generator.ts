/** Synthetic news items per (ticker, calendar day), and the order both sources answer them in. */
import type { NewsCategory, NewsItem } from '../market-data.provider.js';
import { compactDate, toDayNumber } from '../trading-calendar.js';
import { hashString, mulberry32 } from './seeded-random.js';
import { tickerProfile } from './ticker-profiles.js';

const { floor } = Math;

/** Maximum number of news items a `getNews` call answers. */
export const NEWS_LIMIT = 10;
/** How far back (calendar days) the synthetic source looks for news. */
export const NEWS_LOOKBACK_DAYS = 730;

const NEWS_CATEGORIES: readonly NewsCategory[] = ['earnings', 'markets', 'analyst', 'general'];
const NEWS_SOURCES: readonly string[] = [
  'Reuters',
  'Bloomberg',
  'Nikkei',
  'MarketWatch',
  'Financial Times',
  "Barron's",
];
const HEADLINES: Readonly<Record<NewsCategory, readonly string[]>> = {
  earnings: [
    '{name} beats revenue estimates',
    '{name} earnings preview: what to expect',
    '{name} trims full-year outlook',
    '{name} margins widen in latest quarter',
  ],
  markets: [
    '{ticker} shares move with broader market',
    '{ticker} trading volume surges',
    '{ticker} hits a one-month high',
    '{ticker} slips as sector rotates',
  ],
  analyst: [
    'Analyst upgrades {ticker} to buy',
    'Analyst cuts {ticker} price target',
    '{ticker} initiated at neutral',
    'Analysts split on {name} valuation',
  ],
  general: [
    '{name} announces new product line',
    '{name} names new CFO',
    '{name} expands share buyback',
    '{name} opens regional headquarters',
  ],
};

/** The news items of a ticker published on one calendar day (0–3 items), in publication order. */
export function syntheticNewsForDay(ticker: string, date: string): NewsItem[] {
  const p = tickerProfile(ticker);
  const rand = mulberry32(hashString(`news:${ticker}:${date}`));
  const count = floor(rand() * rand() * 4); // skewed to 0–1
  const items: NewsItem[] = [];
  const midnight = toDayNumber(date) * 86_400_000;
  const times: number[] = [];
  for (let k = 0; k < count; k++) times.push(floor(rand() * 86_400_000));
  times.sort((a, b) => a - b);
  for (let k = 0; k < count; k++) {
    const category = NEWS_CATEGORIES[floor(rand() * NEWS_CATEGORIES.length)];
    const templates = HEADLINES[category];
    const headline = templates[floor(rand() * templates.length)]
      .replace('{name}', p.name)
      .replace('{ticker}', ticker);
    items.push({
      id: `N-${ticker}-${compactDate(date)}-${k + 1}`,
      ticker,
      category,
      headline,
      summary: `${headline}. Synthetic ${category} coverage of ${p.name} (${ticker}) for ${date}.`,
      source: NEWS_SOURCES[floor(rand() * NEWS_SOURCES.length)],
      publishedAt: new Date(midnight + times[k]).toISOString(),
    });
  }
  return items;
}

/** Newest first, ties broken by id descending (code-unit order) — the order both sources answer. */
export function compareNewsDesc(a: NewsItem, b: NewsItem): number {
  if (a.publishedAt !== b.publishedAt) return a.publishedAt < b.publishedAt ? 1 : -1;
  if (a.id !== b.id) return a.id < b.id ? 1 : -1;
  return 0;
}
