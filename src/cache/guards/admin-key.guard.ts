import {
  Inject,
  Injectable,
  Optional,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { MARKET_CACHE_ADMIN_KEY } from '../constants.js';

/** An admin route was called without the admin key, with a wrong one, or with none configured: the app's exception filter answers 401. */
export class AdminKeyError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'ADMIN_KEY_REQUIRED';
  constructor() {
    super('a valid admin key is required (X-Admin-Key or Authorization: Bearer)');
    this.name = 'AdminKeyError';
  }
}

interface AdminRequest {
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Lets a request through only with the admin key (token `MARKET_CACHE_ADMIN_KEY`) in
 * `X-Admin-Key` or `Authorization: Bearer <key>`. Keys are compared in constant time (SHA-256
 * digests of both, `timingSafeEqual`), so neither content nor length leaks through timing.
 * With no admin key configured every call is refused: admin routes are off, not open.
 */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  private readonly expected: Buffer | undefined;

  constructor(@Optional() @Inject(MARKET_CACHE_ADMIN_KEY) adminKey?: string) {
    this.expected =
      typeof adminKey === 'string' && adminKey.length > 0 ? digest(adminKey) : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<AdminRequest>();
    const given = presentedKey(req);
    // Compare even when nothing is configured or presented, so every refusal costs the same.
    const ok = timingSafeEqual(
      digest(given ?? ''),
      this.expected ?? digest('\u0000no admin key\u0000'),
    );
    if (!ok || this.expected === undefined || given === undefined) throw new AdminKeyError();
    return true;
  }
}

/** The admin key a request presents: `X-Admin-Key`, else an `Authorization: Bearer` token. */
function presentedKey(req: AdminRequest): string | undefined {
  const header = req.headers['x-admin-key'];
  const direct = Array.isArray(header) ? header[0] : header;
  if (direct) return direct;
  const auth = req.headers.authorization;
  const text = Array.isArray(auth) ? auth[0] : auth;
  const m = text ? /^Bearer\s+(\S+)\s*$/i.exec(text) : null;
  return m ? m[1] : undefined;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
