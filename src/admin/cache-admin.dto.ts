import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { ALL_KEY_TYPES, type CacheKeyType } from '../cache/index.js';
import { ToUpperCaseTrimmed } from '../market/dto/validators.js';

/**
 * Tickers as the admin routes accept them, after the stock routes' normalisation (trimmed,
 * upper-cased): 1–32 letters, digits, `.`, `_`, `^`, `=`, `-`, starting with a letter or digit.
 */
export const TICKER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._^=-]{0,31}$/;

/**
 * Route parameters of `DELETE /api/cache/stocks/:ticker`. The ticker is normalised exactly as the
 * stock routes normalise theirs (`ToUpperCaseTrimmed`), so `aapl` removes what `/api/stocks/aapl/…`
 * cached under `AAPL`.
 */
export class TickerParamDto {
  /** The ticker whose cached data goes. */
  @ToUpperCaseTrimmed()
  @IsString()
  @Matches(TICKER_PATTERN, {
    message:
      'ticker must be 1-32 letters, digits, ".", "_", "^", "=" or "-", starting with a letter or digit',
  })
  ticker!: string;
}

/** Body of `POST /api/cache/flush`: a key type and, optionally, one entity (ticker) of it. Never a raw pattern. */
export class FlushCacheDto {
  /** One of the `CacheKeyType` values. */
  @IsIn(ALL_KEY_TYPES, { message: `keyType must be one of: ${ALL_KEY_TYPES.join(', ')}` })
  keyType!: CacheKeyType;

  /** The entity (usually a ticker) whose keys of that type go; all of the type when absent. */
  @IsOptional()
  @IsString()
  @Length(1, 64)
  entity?: string;
}

/**
 * What the admin invalidation routes answer: how many stored keys were removed; with status 503
 * (Redis or the bus did not take it) also what was done: `complete: false`, this instance's L1
 * evictions, how L2 and the bus went, and whether it was queued for replay.
 */
export interface DeletedCount {
  deleted: number;
  complete?: false;
  l1Evicted?: number;
  l2?: 'done' | 'failed';
  bus?: 'sent' | 'failed' | 'none';
  queued?: boolean;
}
