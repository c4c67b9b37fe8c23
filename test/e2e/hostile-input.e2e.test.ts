/**
 * Issue 12, input limits and headers, over HTTP against the whole app on the harness Redis:
 * JSON bodies past the depth or size limit are refused before they are parsed (400 / 413 JSON
 * naming `body`), every malformed body of the trades query and the admin flush is a 400 naming a
 * field (never a 500), unknown query and body fields are refused, the admin ticker is normalised
 * as the stock routes normalise theirs, keyed answers are `Cache-Control: private`, no
 * `X-Powered-By` is sent, and a client trickling its headers is dropped at the header timeout.
 */
import { jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import request from 'supertest';
import { loadAppConfig } from '../../config/app-config.js';
import { AppModule } from '../../src/app.module.js';
import { configureApp } from '../../src/configure-app.js';
import type { SyntheticMarketDataProvider } from '../../src/market/providers/synthetic.provider.js';
import { uniquePrefix } from '../support/cache-context.js';
import { keysUnder, startMarketApp, type MarketApp } from './market-e2e-support.js';

const ADMIN_KEY = 'admin-key-hostile-input';
let m: MarketApp<SyntheticMarketDataProvider>;
const http = () => request(m.app.getHttpServer());

beforeAll(async () => {
  m = await startMarketApp<SyntheticMarketDataProvider>({ ADMIN_API_KEY: ADMIN_KEY });
}, 30_000);

afterAll(async () => {
  await m?.close();
});

const GOOD_QUERY = { filters: { tickers: ['AAPL'] }, from: '2024-06-03', to: '2024-06-04' };

/** `depth` nested arrays: `[[[...]]]`. */
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** POSTs raw text as JSON (or another content type). */
const postRaw = (path: string, text: string | Buffer, type = 'application/json') =>
  http()
    .post(path)
    .set('Content-Type', type)
    .set('X-Admin-Key', ADMIN_KEY)
    .send(typeof text === 'string' ? text : text);

describe('JSON depth and size limits (before validation)', () => {
  it('refuses a 50,000-deep body under 100 KB with 400 naming body, without ever parsing it', async () => {
    const text = `{"filters":${nested(50_000)}}`;
    expect(Buffer.byteLength(text)).toBeLessThan(100 * 1024);
    const parse = jest.spyOn(JSON, 'parse');
    try {
      const res = await postRaw('/api/trades/query', text).expect(400);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toMatchObject({ statusCode: 400, field: 'body', code: 'BODY_TOO_DEEP' });
      expect(res.body.message).toMatch(/deeper than the limit of 32 levels/);
      // Refused on the raw bytes: the parser never saw it.
      expect(parse.mock.calls.some(([arg]) => arg === text)).toBe(false);
    } finally {
      parse.mockRestore();
    }
  });

  it('refuses a deep body on the admin flush route too', async () => {
    const res = await postRaw('/api/cache/flush', `{"keyType":${nested(50_000)}}`).expect(400);
    expect(res.body).toMatchObject({ field: 'body', code: 'BODY_TOO_DEEP' });
  });

  it('counts depth exactly: 32 levels reach validation, 33 do not', async () => {
    // The body object is level 1, so `x` holds 31 more levels (32 in all): validation answers.
    const at = await postRaw(
      '/api/trades/query',
      JSON.stringify({ ...GOOD_QUERY, x: JSON.parse(nested(31)) }),
    ).expect(400);
    expect(at.body.field).toBe('x');
    const past = await postRaw(
      '/api/trades/query',
      JSON.stringify({ ...GOOD_QUERY, x: JSON.parse(nested(32)) }),
    ).expect(400);
    expect(past.body).toMatchObject({ field: 'body', code: 'BODY_TOO_DEEP' });
  });

  it('does not count brackets inside strings, escaped quotes included', async () => {
    const text = JSON.stringify({ ...GOOD_QUERY, x: `\\"${'['.repeat(5000)}"{{{` });
    const res = await postRaw('/api/trades/query', text).expect(400);
    expect(res.body.field).toBe('x');
  });

  it('answers a body over the size limit 413 JSON naming body', async () => {
    const text = JSON.stringify({ ...GOOD_QUERY, pad: 'x'.repeat(150_000) });
    const res = await postRaw('/api/trades/query', text).expect(413);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ statusCode: 413, field: 'body', code: 'BODY_TOO_LARGE' });
  });

  it('answers text that is not JSON 400 JSON naming body (not an HTML page)', async () => {
    const res = await postRaw('/api/trades/query', '{"filters": {').expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ field: 'body', code: 'BODY_NOT_JSON' });
  });

  it('answers a JSON body that is not UTF-8 415 naming body', async () => {
    const utf16 = Buffer.from(`\ufeff${JSON.stringify(GOOD_QUERY)}`, 'utf16le');
    const res = await postRaw(
      '/api/trades/query',
      utf16,
      'application/json; charset=utf-16le',
    ).expect(415);
    expect(res.body).toMatchObject({ field: 'body', code: 'BODY_UNSUPPORTED_ENCODING' });
  });
});

describe('malformed bodies: 400 naming the field, never 500', () => {
  it.each([
    ['filters: []', { ...GOOD_QUERY, filters: [] }, 'filters'],
    ['filters: "x"', { ...GOOD_QUERY, filters: 'x' }, 'filters'],
  ])('trades query, %s → 400 naming filters', async (_name, body, field) => {
    const res = await postRaw('/api/trades/query', JSON.stringify(body)).expect(400);
    expect(res.body.field).toBe(field);
  });

  const TRADES_TABLE: Array<[string, string, string]> = [
    ['filters: null', JSON.stringify({ ...GOOD_QUERY, filters: null }), 'filters'],
    ['filters: 5', JSON.stringify({ ...GOOD_QUERY, filters: 5 }), 'filters'],
    [
      'filters: [{tickers}]',
      JSON.stringify({ ...GOOD_QUERY, filters: [{ tickers: ['AAPL'] }] }),
      'filters',
    ],
    ['filters missing', JSON.stringify({ from: '2024-06-03', to: '2024-06-04' }), 'filters'],
    [
      'tickers: "AAPL"',
      JSON.stringify({ ...GOOD_QUERY, filters: { tickers: 'AAPL' } }),
      'filters.tickers',
    ],
    [
      'tickers: {}',
      JSON.stringify({ ...GOOD_QUERY, filters: { tickers: { 0: 'AAPL' } } }),
      'filters.tickers',
    ],
    [
      'tickers: [1]',
      JSON.stringify({ ...GOOD_QUERY, filters: { tickers: [1] } }),
      'filters.tickers',
    ],
    [
      'tickers: [null]',
      JSON.stringify({ ...GOOD_QUERY, filters: { tickers: [null] } }),
      'filters.tickers',
    ],
    [
      'tickers: [["AAPL"]]',
      JSON.stringify({ ...GOOD_QUERY, filters: { tickers: [['AAPL']] } }),
      'filters.tickers',
    ],
    ['tickers: []', JSON.stringify({ ...GOOD_QUERY, filters: { tickers: [] } }), 'filters.tickers'],
    [
      'side: ["buy"]',
      JSON.stringify({ ...GOOD_QUERY, filters: { tickers: ['AAPL'], side: ['buy'] } }),
      'filters.side',
    ],
    [
      'venue: {}',
      JSON.stringify({ ...GOOD_QUERY, filters: { tickers: ['AAPL'], venue: {} } }),
      'filters.venue',
    ],
    [
      'minQuantity: "5"',
      JSON.stringify({ ...GOOD_QUERY, filters: { tickers: ['AAPL'], minQuantity: '5' } }),
      'filters.minQuantity',
    ],
    [
      'minQuantity: 1e400',
      `{"filters":{"tickers":["AAPL"],"minQuantity":1e400},"from":"2024-06-03","to":"2024-06-04"}`,
      'filters.minQuantity',
    ],
    ['from: 20240603', JSON.stringify({ ...GOOD_QUERY, from: 20240603 }), 'from'],
    ['to: ["2024-06-04"]', JSON.stringify({ ...GOOD_QUERY, to: ['2024-06-04'] }), 'to'],
    [
      'includeEvents: "true"',
      JSON.stringify({ ...GOOD_QUERY, includeEvents: 'true' }),
      'includeEvents',
    ],
    ['unknown top-level field', JSON.stringify({ ...GOOD_QUERY, limit: 5 }), 'limit'],
    [
      'unknown filter field',
      JSON.stringify({ ...GOOD_QUERY, filters: { tickers: ['AAPL'], sector: 'x' } }),
      'filters.sector',
    ],
    [
      'constructor key',
      JSON.stringify({ ...GOOD_QUERY, constructor: { prototype: {} } }),
      'constructor',
    ],
    [
      '__proto__ key',
      `{"__proto__":{"x":1},"filters":{"tickers":["AAPL"]},"from":"2024-06-03","to":"2024-06-04"}`,
      '__proto__',
    ],
    ['a top-level array', JSON.stringify([GOOD_QUERY]), 'body'],
    ['an empty object', '{}', 'filters'],
  ];

  it.each(TRADES_TABLE)('trades query, %s → 400 naming the field', async (_name, text, field) => {
    const res = await postRaw('/api/trades/query', text);
    expect({ status: res.status, field: res.body.field }).toEqual({ status: 400, field });
    expect(typeof res.body.message).toBe('string');
  });

  it.each([
    ['a top-level string', '"x"'],
    ['a top-level number', '5'],
    ['null', 'null'],
  ])('trades query, %s → 400 naming body (strict JSON: objects only)', async (_name, text) => {
    const res = await postRaw('/api/trades/query', text).expect(400);
    expect(res.body.field).toBe('body');
  });

  it('trades query without a JSON content type (no body parsed) → 400 naming body', async () => {
    const res = await postRaw('/api/trades/query', JSON.stringify(GOOD_QUERY), 'text/plain');
    expect({ status: res.status, field: res.body.field }).toEqual({ status: 400, field: 'body' });
  });

  const FLUSH_TABLE: Array<[string, string, string]> = [
    ['keyType missing', '{}', 'keyType'],
    ['keyType: ["stock_price"]', JSON.stringify({ keyType: ['stock_price'] }), 'keyType'],
    ['keyType: null', JSON.stringify({ keyType: null }), 'keyType'],
    ['keyType: 5', JSON.stringify({ keyType: 5 }), 'keyType'],
    ['keyType unknown', JSON.stringify({ keyType: 'everything' }), 'keyType'],
    ['keyType: {}', JSON.stringify({ keyType: {} }), 'keyType'],
    ['entity: 5', JSON.stringify({ keyType: 'stock_price', entity: 5 }), 'entity'],
    ['entity: ""', JSON.stringify({ keyType: 'stock_price', entity: '' }), 'entity'],
    ['entity: ["AAPL"]', JSON.stringify({ keyType: 'stock_price', entity: ['AAPL'] }), 'entity'],
    [
      'entity too long',
      JSON.stringify({ keyType: 'stock_price', entity: 'A'.repeat(65) }),
      'entity',
    ],
    ['entity: {}', JSON.stringify({ keyType: 'stock_price', entity: {} }), 'entity'],
    [
      'nested __proto__',
      '{"keyType":"stock_price","x":{"__proto__":{"admin":true}}}',
      'x.__proto__',
    ],
    ['unknown field', JSON.stringify({ keyType: 'stock_price', pattern: '*' }), 'pattern'],
    ['a top-level array', JSON.stringify([{ keyType: 'stock_price' }]), 'body'],
  ];

  it.each(FLUSH_TABLE)('admin flush, %s → 400 naming the field', async (_name, text, field) => {
    const res = await postRaw('/api/cache/flush', text);
    expect({ status: res.status, field: res.body.field }).toEqual({ status: 400, field });
  });
});

describe('unknown query parameters are refused, as unknown body fields are', () => {
  it.each([
    ['/api/stocks/AAPL/price?foo=1', 'foo'],
    ['/api/stocks/AAPL/news?category=earnings&foo=1', 'foo'],
    ['/api/stocks/AAPL/bars?from=2024-01-02&to=2024-01-03&limit=5', 'limit'],
  ])('%s → 400 naming %s', async (url, field) => {
    const res = await http().get(url).expect(400);
    expect(res.body.field).toBe(field);
  });

  it('a repeated parameter is a wrong shape: 400 naming it', async () => {
    const res = await http()
      .get('/api/stocks/AAPL/bars?from=2024-01-02&from=2024-01-03&to=2024-01-05')
      .expect(400);
    expect(res.body.field).toBe('from');
  });
});

describe('DELETE /api/cache/stocks/:ticker normalises the ticker as the stock routes do', () => {
  it('DELETE /api/cache/stocks/aapl removes what /api/stocks/aapl/... cached under AAPL', async () => {
    await http().get('/api/stocks/aapl/price').expect(200);
    await http().get('/api/stocks/AAPL/news?category=earnings').expect(200);
    await http().get('/api/stocks/MSFT/price').expect(200);
    const aapl = async () =>
      (await keysUnder(m.redis, m.prefix)).filter((k) => k.includes(':AAPL:'));
    expect((await aapl()).length).toBeGreaterThanOrEqual(2);

    const res = await http()
      .delete('/api/cache/stocks/%20aapl%20')
      .set('X-Admin-Key', ADMIN_KEY)
      .expect(200);
    expect(res.body.deleted).toBeGreaterThanOrEqual(2);
    expect(await aapl()).toEqual([]);
    // Other tickers are untouched, and the next read is a miss again.
    expect((await keysUnder(m.redis, m.prefix)).some((k) => k.includes(':MSFT:'))).toBe(true);
    const again = await http().get('/api/stocks/AAPL/price').expect(200);
    expect(again.headers['x-cache']).toBe('MISS');
  });
});

describe('response headers', () => {
  it('sends no X-Powered-By on API, health and error answers', async () => {
    for (const url of ['/api/stocks/AAPL/price', '/health/live', '/api/stocks/!!/price', '/nope']) {
      const res = await http().get(url);
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
    const bad = await postRaw('/api/trades/query', '{');
    expect(bad.headers['x-powered-by']).toBeUndefined();
  });

  it('answers a keyed request Cache-Control: private, max-age=…; the anonymous one stays shared', async () => {
    const anon = await http().get('/api/stocks/NVDA/price').expect(200);
    expect(anon.headers['cache-control']).toMatch(/^max-age=\d+$/);
    const keyed = await http().get('/api/stocks/NVDA/price').set('X-API-Key', 'k-1').expect(200);
    expect(keyed.headers['x-cache']).toBe('HIT');
    expect(keyed.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    const bearer = await http()
      .get('/api/stocks/NVDA/bars?from=2024-01-02&to=2024-01-05')
      .set('Authorization', 'Bearer t')
      .expect(200);
    expect(bearer.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
  });
});

describe('HTTP server timeouts (configureApp with small limits)', () => {
  let slow: INestApplication;
  let port: number;

  beforeAll(async () => {
    const cfg = loadAppConfig({ CACHE_DRIVER: 'memory', CACHE_KEY_PREFIX: uniquePrefix('slow') });
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forConfig(cfg)],
    }).compile();
    slow = moduleRef.createNestApplication({ logger: ['error'] });
    configureApp(slow, {
      headersTimeoutMs: 300,
      requestTimeoutMs: 600,
      timeoutCheckIntervalMs: 50,
    });
    await slow.listen(0, '127.0.0.1');
    port = (slow.getHttpServer().address() as AddressInfo).port;
  }, 30_000);

  afterAll(async () => {
    await slow?.close();
  });

  /** Opens a connection and sends the request line, then one header line every `everyMs` until the server closes it. */
  async function trickle(everyMs: number): Promise<{ reply: string; linesSent: number }> {
    const socket: Socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n');
    let reply = '';
    let linesSent = 0;
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    const timer = setInterval(() => {
      if (!socket.destroyed && socket.writable) {
        socket.write(`X-Slow-${linesSent}: x\r\n`);
        linesSent++;
      }
    }, everyMs);
    socket.on('error', () => undefined);
    try {
      await once(socket, 'close');
    } finally {
      clearInterval(timer);
    }
    return { reply, linesSent };
  }

  it('drops a client still trickling its headers once the header timeout passes (408)', async () => {
    // The client never ends its headers: only the server can end this connection.
    const { reply, linesSent } = await trickle(25);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(linesSent).toBeGreaterThan(0);
  }, 15_000);

  it('answers requests that send their headers in time', async () => {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    socket.end('GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    await once(socket, 'close');
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
  });
});
