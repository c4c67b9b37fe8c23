/**
 * Timer sets for `jest.useFakeTimers({ doNotFake })` when time is the subject but Redis, sockets
 * and the bus must keep real time.
 */

/** Everything but `Date` and the timeout timers stays real: fake timeouts too, to fire them exactly. */
export const REAL_EXCEPT_DATE_AND_TIMEOUTS = [
  'hrtime',
  'nextTick',
  'performance',
  'queueMicrotask',
  'setImmediate',
  'clearImmediate',
  'setInterval',
  'clearInterval',
] as const;

/** Everything but `Date` stays real: entry timelines move at once, timers and I/O keep real time. */
export const REAL_EXCEPT_DATE = [
  ...REAL_EXCEPT_DATE_AND_TIMEOUTS,
  'setTimeout',
  'clearTimeout',
] as const;
