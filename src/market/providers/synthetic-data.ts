/**
 * Deterministic generators behind the synthetic provider and the PostgreSQL seed, so that
 * both sources answer the same values. Everything is a pure function of (ticker, day) and
 * the options; computed bar series are cached in memory per ticker. One module per kind of
 * data under `synthetic/`; this file is their single entry point.
 */
export { hashString, mulberry32 } from './synthetic/seeded-random.js';
export * from './synthetic/ticker-profiles.js';
export * from './synthetic/bar-series.js';
export * from './synthetic/trade-generator.js';
export * from './synthetic/financials-generator.js';
export * from './synthetic/news-generator.js';
