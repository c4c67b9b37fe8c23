import { Logger } from '@nestjs/common';

/**
 * Logs at most one line per `kind` per `intervalMs` (default 10 000 ms), adding how many were
 * suppressed since the last line. Messages must carry no keys' values, payloads or secrets.
 */
export class RateLimitedLogger {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private readonly logger: Pick<Logger, 'warn'>;

  /** @param context the Nest logger context (e.g. `'RedisCache'`), or a logger to write to. */
  constructor(
    context: string | Pick<Logger, 'warn'>,
    private readonly intervalMs = 10_000,
  ) {
    this.logger = typeof context === 'string' ? new Logger(context) : context;
  }

  /** Warns about `kind` unless it was logged within the interval. */
  warn(kind: string, message: string): void {
    const now = Date.now();
    const seen = this.last.get(kind);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const extra = seen && seen.suppressed > 0 ? ` (${seen.suppressed} similar suppressed)` : '';
    this.last.set(kind, { at: now, suppressed: 0 });
    this.logger.warn(`${message}${extra}`);
  }
}

/** A short description of an error for logs: its code/name and message, no stack, no payload. */
export function errorSummary(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${typeof code === 'string' ? code + ' ' : ''}${error.name}: ${redact(error.message)}`;
  }
  return redact(String(error));
}

/** Removes credentials from URLs (`redis://user:pass@host`) in a message. */
export function redact(message: string): string {
  return message.replace(/(\w+:\/\/)([^@/\s]*)@/g, '$1***@');
}
