/**
 * A minimal RESP2 client for the harness: one command per fresh connection, replies decoded to
 * text. Independent of ioredis so that the harness can probe servers the code under test uses.
 */
import * as net from 'node:net';
import { TEST_HOST } from './ports.js';

const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
const PING_TIMEOUT_MS = 1_000;

/** Encodes a command as a RESP array of bulk strings. */
function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const body = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

type RespValue = string | number | null | RespError | RespValue[];

class RespError {
  constructor(readonly message: string) {}
}

/**
 * Parses one RESP2 value from `buf` at `pos`. Returns `undefined` if more bytes are needed.
 */
function parseResp(buf: Buffer, pos: number): { value: RespValue; next: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', pos);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next: afterLine };
    case '-':
      return { value: new RespError(line), next: afterLine };
    case ':':
      return { value: Number(line), next: afterLine };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next: afterLine };
      if (buf.length < afterLine + len + 2) return undefined;
      return { value: buf.toString('utf8', afterLine, afterLine + len), next: afterLine + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: afterLine };
      const items: RespValue[] = [];
      let next = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buf, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`Unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

function respToText(value: RespValue): string {
  if (value === null) return '';
  if (Array.isArray(value)) return value.map(respToText).join('\n');
  if (value instanceof RespError) return `-${value.message}`;
  return String(value);
}

/** Options for {@link redisCommandAt}. */
export interface RedisCommandOptions {
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** Reject after this many ms without a complete reply (default 30 000). */
  timeoutMs?: number;
}

/** Like {@link redisCommand}, with explicit host and timeout. */
export function redisCommandAt(opts: RedisCommandOptions, ...args: string[]): Promise<string> {
  const { port, host = TEST_HOST, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS } = opts;
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    let buf: Buffer = Buffer.alloc(0);
    const socket = net.connect({ port, host });
    const finish = (err: Error | null, text?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(text ?? '');
    };
    const timer = setTimeout(
      () =>
        finish(
          new Error(`redis ${host}:${port} ${args[0] ?? ''}: no reply within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    socket.setNoDelay(true);
    socket.once('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let parsed: ReturnType<typeof parseResp>;
      try {
        parsed = parseResp(buf, 0);
      } catch (e) {
        finish(e as Error);
        return;
      }
      if (!parsed) return;
      const { value } = parsed;
      if (value instanceof RespError) {
        finish(new Error(`redis ${host}:${port} ${args.join(' ')}: ${value.message}`));
      } else {
        finish(null, respToText(value));
      }
    });
    socket.once('error', (err) => finish(err));
    socket.once('close', () =>
      finish(new Error(`redis ${host}:${port}: connection closed before reply`)),
    );
  });
}

/**
 * Sends one command (RESP array of bulk strings) to 127.0.0.1:`port` on a fresh connection and
 * returns the decoded reply as text: simple/bulk strings as-is (`'PONG'`, the CLUSTER INFO text),
 * integers as decimal, nil as `''`, arrays joined with `\n`. An error reply rejects the promise.
 * Times out after 30 s (enough for `DEBUG SLEEP` of a few seconds).
 */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return redisCommandAt({ port }, ...args);
}

/** One inline `PING` on a raw socket; resolves true only on `+PONG` (LOADING etc. → false). */
export function pingOnce(port: number, timeoutMs = PING_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    let reply = '';
    const socket = net.connect({ port, host: TEST_HOST });
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

/** Parses `INFO` / `CLUSTER INFO` text into its `field: value` pairs (section headers skipped). */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}
