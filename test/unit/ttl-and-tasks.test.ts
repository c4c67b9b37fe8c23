/**
 * Small promises the README makes about TTL arguments, the timeout helper and background work
 * (shutdown waits for it), checked through their public functions.
 */
import { jest } from '@jest/globals';
import { InvalidTtlError } from '../../src/cache/errors/cache-errors.js';
import { ttlToMs, ttlToSeconds } from '../../src/cache/keys/ttl.js';
import { BackgroundTasks } from '../../src/cache/util/background-tasks.js';
import { withTimeout } from '../../src/cache/util/with-timeout.js';

describe('TTL arguments', () => {
  const now = Date.UTC(2024, 2, 15, 12);

  it('accepts seconds, duration strings (a bare number is seconds) and a future Date', () => {
    expect(ttlToMs(1.5)).toBe(1500);
    expect(ttlToMs('500ms')).toBe(500);
    expect(ttlToMs('30')).toBe(30_000);
    expect(ttlToMs(' 5m ')).toBe(300_000);
    expect(ttlToMs('1h')).toBe(3_600_000);
    expect(ttlToMs('2d')).toBe(172_800_000);
    expect(ttlToMs(new Date(now + 90_000), 'ttl', now)).toBe(90_000);
    expect(ttlToSeconds('1m')).toBe(60);
  });

  it('rounds to whole milliseconds, at least 1', () => {
    expect(ttlToMs(0.0004)).toBe(1);
    expect(ttlToMs('1.6ms')).toBe(2);
  });

  it.each([
    ['zero seconds', 0],
    ['zero as a string', '0s'],
    ['zero milliseconds', '0ms'],
    ['a negative number', -1],
    ['infinity', Number.POSITIVE_INFINITY],
    ['NaN', Number.NaN],
    ['an unknown unit', '5w'],
    ['text', 'soon'],
    ['a past date', new Date(now - 1)],
    ['now itself', new Date(now)],
  ])('refuses %s with InvalidTtlError naming the field', (_label, input) => {
    let caught: unknown;
    try {
      ttlToMs(input as number | string | Date, 'opts.ttl', now);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidTtlError);
    expect((caught as InvalidTtlError).field).toBe('opts.ttl');
  });

  it('names the field `ttl` unless told otherwise', () => {
    expect(() => ttlToMs('never')).toThrow(expect.objectContaining({ field: 'ttl' }));
    expect(() => ttlToSeconds(0)).toThrow(expect.objectContaining({ field: 'ttl' }));
  });

  it('refuses anything that is not a number, a string or a Date', () => {
    expect(() => ttlToMs({} as unknown as number)).toThrow(InvalidTtlError);
  });
});

describe('withTimeout', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('answers the promise when it settles in time and leaves no timer behind', async () => {
    const answer = withTimeout(Promise.resolve(7), 1000, 'slow');
    await expect(answer).resolves.toBe(7);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('passes the promise rejection through', async () => {
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000, 'slow')).rejects.toThrow(
      'boom',
    );
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects with the message exactly at the timeout, not before', async () => {
    let settled: unknown;
    const answer = withTimeout(new Promise<number>(() => undefined), 100, 'no answer in 100 ms');
    answer.then(
      (v) => (settled = v),
      (e: Error) => (settled = e.message),
    );
    await jest.advanceTimersByTimeAsync(99);
    expect(settled).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(settled).toBe('no answer in 100 ms');
  });
});

describe('BackgroundTasks', () => {
  it('drain waits for every tracked task, including tasks tracked while draining', async () => {
    const tasks = new BackgroundTasks();
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = new Promise<void>((r) => (releaseFirst = r)).then(() => {
      order.push('first');
      tasks.track(Promise.resolve().then(() => order.push('second')));
    });
    tasks.track(first);
    const drained = tasks.drain().then(() => order.push('drained'));
    await Promise.resolve();
    expect(order).toEqual([]);
    releaseFirst();
    await drained;
    expect(order).toEqual(['first', 'second', 'drained']);
  });

  it('hands a rejection to onError, never to the caller', async () => {
    const errors: unknown[] = [];
    const tasks = new BackgroundTasks((e) => errors.push(e));
    const boom = new Error('boom');
    tasks.track(Promise.reject(boom));
    await expect(tasks.drain()).resolves.toBeUndefined();
    expect(errors).toEqual([boom]);
  });

  it('drains at once when nothing is tracked', async () => {
    await expect(new BackgroundTasks().drain()).resolves.toBeUndefined();
  });
});
