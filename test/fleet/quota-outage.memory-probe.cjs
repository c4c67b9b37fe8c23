// Preloaded into the app process by test/fleet/quota-outage.test.ts (NODE_OPTIONS='--expose-gc
// --require <this file>'): on SIGUSR2 it runs a full garbage collection and prints one line
// `MEM {"rss":…,"heapUsed":…}` (bytes) on stdout, so the test can tell memory the process keeps
// from memory V8 has merely not returned yet. Test instrumentation only; the app knows nothing of it.
'use strict';
process.on('SIGUSR2', () => {
  if (typeof global.gc === 'function') global.gc();
  const m = process.memoryUsage();
  process.stdout.write(`MEM ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed })}\n`);
});
