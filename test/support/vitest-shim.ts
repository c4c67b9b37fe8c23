/**
 * The part of vitest's API that `@keyv/test-suite` calls, over jest's: the suite takes it as its
 * `test` argument. As in vitest, `it` hands each test a context carrying `expect` (jest would read
 * a one-parameter function as a `done` callback, so the test is wrapped).
 */
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it as jestIt,
  jest,
} from '@jest/globals';

/** The context vitest hands a test function. */
export interface ShimTestContext {
  expect: typeof expect;
}

/** `it(name, fn, timeout?)`, `fn` getting `{ expect }`. */
export function it(
  name: string,
  fn: (context: ShimTestContext) => unknown,
  timeout?: number,
): void {
  jestIt(
    name,
    async () => {
      await fn({ expect });
    },
    timeout,
  );
}

/** vitest's `test` is its `it`. */
export const test = it;
/** vitest's `vi` (mocks, timers) is jest's `jest` for what the suite uses. */
export const vi = jest;
export { afterAll, afterEach, beforeAll, beforeEach, describe, expect };
