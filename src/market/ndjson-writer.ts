import type { Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { errorSummary } from '../cache/index.js';

/**
 * Sends text chunks as a streamed response, respecting backpressure (waits for `drain`), and
 * stops reading (closing the source) when the client goes away.
 *
 * The status and `headers` are sent only once the first two chunks (the meta line and the first
 * data chunk, or the end) are ready, so a source that fails at once still reaches the exception
 * filter as a proper error status. A failure after that ends the response abruptly (the client
 * sees a truncated chunked body) and is logged without payload.
 */
export async function writeChunked(
  res: ServerResponse,
  chunks: AsyncGenerator<string, void, undefined>,
  headers: Record<string, string>,
  log: Logger,
): Promise<void> {
  let started = false;
  try {
    const head: string[] = [];
    for (let i = 0; i < 2; i++) {
      const next = await chunks.next();
      if (next.done) break;
      head.push(next.value);
    }
    res.statusCode = 200;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    started = true;
    for (const text of head) if (!(await write(res, text))) return;
    for (;;) {
      const next = await chunks.next();
      if (next.done) break;
      if (!(await write(res, next.value))) return;
    }
    res.end();
  } catch (err) {
    if (!started) throw err;
    log.warn(`streamed response failed after it started: ${errorSummary(err)}`);
    res.destroy();
  } finally {
    // Closes the source (and writes back the days completed so far) when we stopped early.
    await chunks.return(undefined);
  }
}

/** Writes one chunk; resolves false when the client went away (before or while waiting for `drain`). */
function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(text)) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
