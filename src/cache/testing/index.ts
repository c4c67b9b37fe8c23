/** Testing entry of the market-cache library (`market-cache/testing`): the cache without Redis, with a clock a test moves. */
export * from './cache-test-clock.js';
export * from './market-cache-testing.module.js';
