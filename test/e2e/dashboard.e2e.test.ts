import { readFileSync } from 'node:fs';
import request from 'supertest';
import { testRedis } from '../harness/test-env.js';
import { uniquePrefix, waitFor } from '../support/cache-context.js';
import {
  invalidExpositionLines,
  startApp,
  testAppConfig,
  type TestApp,
} from './support/app-harness.js';

/*
 * The Grafana dashboard (deploy/grafana/market-cache.dashboard.json) reads only metrics the app
 * exports: every metric name in every panel query and template variable is a series of the app's
 * GET /metrics once it has served some traffic.
 */

const DASHBOARD = 'deploy/grafana/market-cache.dashboard.json';

interface Target {
  expr?: string;
}
interface Panel {
  title?: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating?: { list: { query?: string | { query?: string } }[] };
}

/** PromQL words that are not metric names: keywords and operators spelled as words. */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression reads: string literals, label matchers (`{…}`), ranges
 * (`[…]`) and label lists (`by (…)`, `on (…)`, …) removed, then every identifier that is not a
 * keyword and not called as a function or aggregation (`rate(`, `sum (`).
 */
function metricNamesOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:\\.|[^"\\])*"/g, '""')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const names: string[] = [];
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = bare.slice((m.index ?? 0) + m[0].length);
    if (KEYWORDS.has(m[0].toLowerCase()) || /^\s*\(/.test(rest)) continue;
    if (m.index !== undefined && m.index > 0 && /[$\w.]/.test(bare[m.index - 1])) continue;
    names.push(m[0]);
  }
  return names;
}

/** Every metric name the dashboard reads: panel targets (rows' panels too) and template variables. */
function dashboardMetricNames(dashboard: Dashboard): Map<string, string[]> {
  const uses = new Map<string, string[]>();
  const add = (name: string, where: string) => uses.set(name, [...(uses.get(name) ?? []), where]);
  const walk = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const t of panel.targets ?? [])
        for (const name of metricNamesOf(t.expr ?? '')) add(name, panel.title ?? '?');
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    const query = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const m = /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,/.exec(query);
    if (m) add(m[1], 'templating');
  }
  return uses;
}

/** Names with at least one sample line in a Prometheus text exposition (not only HELP/TYPE). */
function sampledNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{| )/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}

/** Dashboard names the exposition has no series of, with the panels that use them. */
function missing(uses: Map<string, string[]>, exposition: string): string[] {
  const present = sampledNames(exposition);
  return [...uses]
    .filter(([name]) => !present.has(name))
    .map(([name, panels]) => `${name} (${[...new Set(panels)].join(', ')})`);
}

describe('metricNamesOf (the PromQL tokenizer the check relies on)', () => {
  it('finds the metrics and nothing else in the shapes the dashboard uses', () => {
    expect(
      metricNamesOf(
        'histogram_quantile(0.99, sum by (le, tier) (rate(a_seconds_bucket{operation="http",key_type=~"$key_type"}[$__rate_interval])))',
      ),
    ).toEqual(['a_seconds_bucket']);
    expect(
      metricNamesOf(
        '(sum by (key_type) (rate(x_total[5m])) + sum(y_total)) / on (key_type) group_left z_total offset 1h > bool 0',
      ),
    ).toEqual(['x_total', 'y_total', 'z_total']);
    expect(metricNamesOf('max by (state) (breaker_state)')).toEqual(['breaker_state']);
  });
});

describe('the Grafana dashboard against GET /metrics (AppModule on a harness Redis)', () => {
  let t: TestApp;
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

  beforeAll(async () => {
    t = await startApp(
      testAppConfig({
        REDIS_URL: testRedis().url,
        CACHE_KEY_PREFIX: uniquePrefix('dash'),
        API_DAILY_QUOTA: '1',
      }),
    );
  });
  afterAll(() => t.close());

  it('reads only metric names the app exports, once it served traffic', async () => {
    // Traffic: a miss (factory run, HTTP latency), a hit, and one request past its quota.
    await request(t.server).get('/api/stocks/AAPL/price').expect(200).expect('X-Cache', 'MISS');
    await request(t.server).get('/api/stocks/AAPL/price').expect(200).expect('X-Cache', 'HIT');
    await request(t.server).get('/api/stocks/AAPL/price').set('X-API-Key', 'dash').expect(200);
    await request(t.server).get('/api/stocks/AAPL/price').set('X-API-Key', 'dash').expect(429);
    // The Redis latency gauge appears with the store probe's first PING (every second).
    let text = '';
    await waitFor(async () => {
      text = (await request(t.server).get('/metrics').expect(200)).text;
      return /^market_cache_redis_latency_seconds /m.test(text);
    }, 10_000);

    const uses = dashboardMetricNames(dashboard);
    // The panels the issue asks for are there (a tokenizer that finds nothing would pass below).
    expect([...uses.keys()]).toEqual(
      expect.arrayContaining([
        'market_cache_hits_total',
        'market_cache_misses_total',
        'market_cache_stale_served_total',
        'market_cache_l1_bytes',
        'market_cache_redis_latency_seconds',
        'market_cache_breaker_state',
        'market_cache_factory_calls_total',
        'market_cache_factory_duration_seconds_bucket',
        'market_cache_quota_rejections_total',
      ]),
    );
    expect(missing(uses, text)).toEqual([]);
    expect(invalidExpositionLines(text)).toEqual([]);
    // The new series carry what happened: each factory call of a miss timed once, one rejection.
    const sample = (re: RegExp) => Number(re.exec(text)?.[1]);
    const timed = sample(
      /^market_cache_factory_duration_seconds_count\{key_type="stock_price",kind="miss",outcome="ok"\} (\d+)$/m,
    );
    expect(timed).toBeGreaterThan(0);
    expect(timed).toBe(
      sample(/^market_cache_factory_calls_total\{kind="miss",key_type="stock_price"\} (\d+)$/m),
    );
    expect(text).toMatch(/^market_cache_quota_rejections_total 1$/m);
    expect(text).toMatch(/^market_cache_breaker_state\{state="closed"\} 1$/m);
  });

  it('would name a metric the app does not export', async () => {
    const text = (await request(t.server).get('/metrics').expect(200)).text;
    const wrong: Dashboard = {
      panels: [
        {
          title: 'typo',
          targets: [{ expr: 'sum(rate(market_cache_hits_totl{tier="l1"}[5m]))' }],
        },
      ],
    };
    expect(missing(dashboardMetricNames(wrong), text)).toEqual(['market_cache_hits_totl (typo)']);
  });
});
