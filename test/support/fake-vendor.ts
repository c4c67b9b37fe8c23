/**
 * A fake market-data vendor for tests (never a production dependency): `node:http` on 127.0.0.1,
 * a free port, serving the REST API of the HTTP vendor provider from the synthetic generator.
 * Options: an API key, a rate limit (calls per sliding window → 429 with `Retry-After`), latency,
 * and failure modes (500, hang, malformed JSON, wrong shape, 429) for the next calls. Every call
 * is logged (path, time, status). `/v1/status` is not metered.
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MarketDataError } from '../../src/market/providers/market-data.errors.js';
import type {
  FinancialPeriod,
  FiscalQuarter,
  NewsCategory,
  Trade,
  TradeFilters,
} from '../../src/market/providers/market-data.provider.js';
import { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';

/** How the fake answers a call instead of the data. */
export type FailureMode = 'status500' | 'hang' | 'malformed' | 'wrongShape' | 'status429';

/** One call the fake received. */
export interface VendorCall {
  path: string;
  /** Ticker of a per-ticker route (`/v1/quote/{ticker}` …), else undefined. */
  ticker?: string;
  /** `Date.now()` when it arrived. */
  at: number;
  status: number;
  metered: boolean;
}

/** Options of the fake vendor. */
export interface FakeVendorOptions {
  /** Required `X-API-Key` (401 without it). Default: none required. */
  apiKey?: string;
  /** At most `calls` metered calls in any `windowMs` (default 60 000); past it 429 with `Retry-After` (seconds). */
  rateLimit?: { calls: number; windowMs?: number };
  /** Delay before every answer, in ms. Default 0. */
  latencyMs?: number;
  /** `Retry-After` of a `status429` failure, in seconds. Default 1. */
  retryAfterSeconds?: number;
  /** Trades per page of `/v1/trades`. Default 500. */
  tradesPageSize?: number;
  /** Today (`YYYY-MM-DD`) of the synthetic data. Default: the system clock. */
  today?: () => string;
  /** Tickers the vendor lists. Default: the synthetic source's 30. */
  tickers?: string[];
}

/** A running fake vendor. */
export interface FakeVendor {
  url: string;
  port: number;
  calls: VendorCall[];
  /** Metered calls answered 200 (what a quota counts). */
  meteredCalls(): VendorCall[];
  /** Answers the next `count` metered calls with `mode`. */
  failNext(mode: FailureMode, count?: number): void;
  /** Answers every metered call with `mode` until set back to undefined. */
  setFailure(mode: FailureMode | undefined): void;
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1 and a free port. */
export async function startFakeVendor(options: FakeVendorOptions = {}): Promise<FakeVendor> {
  const data = new SyntheticMarketDataProvider({ today: options.today, tickers: options.tickers });
  const calls: VendorCall[] = [];
  const queue: FailureMode[] = [];
  let always: FailureMode | undefined;
  const sockets = new Set<Socket>();
  const windowMs = options.rateLimit?.windowMs ?? 60_000;
  const admitted: number[] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const metered = url.pathname !== '/v1/status';
    const m = /^\/v1\/(quote|financials|news|bars)\/([^/]+)$/.exec(url.pathname);
    const call: VendorCall = {
      path: url.pathname,
      ticker: m ? decodeURIComponent(m[2]) : undefined,
      at: Date.now(),
      status: 0,
      metered,
    };
    calls.push(call);
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      call.status = status;
      const out = () => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(body);
      };
      if (options.latencyMs) setTimeout(out, options.latencyMs);
      else out();
    };
    if (options.apiKey !== undefined && req.headers['x-api-key'] !== options.apiKey)
      return send(401, JSON.stringify({ error: 'bad key' }));
    if (metered && options.rateLimit) {
      const now = Date.now();
      while (admitted.length > 0 && admitted[0] <= now - windowMs) admitted.shift();
      if (admitted.length >= options.rateLimit.calls) {
        const wait = Math.max(1, Math.ceil((admitted[0] + windowMs - now) / 1000));
        return send(429, JSON.stringify({ error: 'rate limited' }), {
          'retry-after': String(wait),
        });
      }
      admitted.push(now);
    }
    const failure = metered ? (queue.shift() ?? always) : undefined;
    if (failure === 'hang') return void (call.status = -1);
    if (failure === 'status500') return send(500, JSON.stringify({ error: 'boom' }));
    if (failure === 'status429')
      return send(429, '{}', { 'retry-after': String(options.retryAfterSeconds ?? 1) });
    if (failure === 'malformed') return send(200, '{"ticker": "AAPL", "price": 1');
    answer(url, data, options.tradesPageSize ?? 500).then(
      (body) =>
        send(200, JSON.stringify(failure === 'wrongShape' ? { unexpected: true, body: 1 } : body)),
      (e: unknown) =>
        e instanceof MarketDataError && (e.code === 'UNKNOWN_TICKER' || e.code === 'NOT_FOUND')
          ? send(404, JSON.stringify({ code: e.code }))
          : e instanceof MarketDataError && e.code === 'INVALID_ARGUMENT'
            ? send(400, JSON.stringify({ code: e.code }))
            : send(500, JSON.stringify({ error: 'internal' })),
    );
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    meteredCalls: () => calls.filter((c) => c.metered && c.status === 200),
    failNext: (mode, count = 1) => queue.push(...Array.from({ length: count }, () => mode)),
    setFailure: (mode) => (always = mode),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** The body of one data route, from the synthetic generator. */
async function answer(
  url: URL,
  data: SyntheticMarketDataProvider,
  pageSize: number,
): Promise<unknown> {
  const q = url.searchParams;
  const [, , route, rawTicker] = url.pathname.split('/');
  const ticker = rawTicker === undefined ? '' : decodeURIComponent(rawTicker);
  switch (route) {
    case 'status':
      return { ok: true };
    case 'tickers':
      return { tickers: await data.listTickers() };
    case 'quote':
      return data.getQuote(ticker);
    case 'financials':
      return data.getFinancials(
        ticker,
        q.get('period') as FinancialPeriod,
        q.get('quarter') as FiscalQuarter,
      );
    case 'news':
      return { items: await data.getNews(ticker, q.get('category') as NewsCategory) };
    case 'bars':
      return { bars: await data.getDailyBars(ticker, q.get('from') ?? '', q.get('to') ?? '') };
    case 'trades': {
      const filters: TradeFilters = {
        tickers: q.get('tickers')?.split(',').filter(Boolean),
        side: (q.get('side') ?? undefined) as TradeFilters['side'],
        venue: q.get('venue') ?? undefined,
        minQuantity: q.has('minQuantity') ? Number(q.get('minQuantity')) : undefined,
      };
      const offset = Number(q.get('cursor') ?? 0);
      const trades: Trade[] = [];
      let i = 0;
      for await (const t of data.streamTrades(filters, q.get('from') ?? '', q.get('to') ?? '')) {
        if (i++ < offset) continue;
        if (trades.length === pageSize) return { trades, next: String(offset + pageSize) };
        trades.push(t);
      }
      return { trades };
    }
    case 'trade-events': {
      const ids = (q.get('ids') ?? '').split(',').filter(Boolean);
      return { events: Object.fromEntries(await data.getTradeEvents(ids)) };
    }
    default:
      throw new MarketDataError('NOT_FOUND', 'no such route');
  }
}
