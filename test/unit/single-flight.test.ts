/** SingleFlight: concurrent calls for one key share one promise; nothing is kept past settling. */
import { SingleFlight } from '../../src/cache/util/single-flight.js';

describe('SingleFlight', () => {
  it('runs the work once for concurrent calls of one key, separately per key', async () => {
    const flight = new SingleFlight<number>();
    let runs = 0;
    const work = (n: number) => () => Promise.resolve((runs++, n));
    const [a, b, c] = [
      flight.run('k', work(1)),
      flight.run('k', work(2)),
      flight.run('j', work(3)),
    ];
    expect(a).toBe(b);
    expect(await Promise.all([a, b, c])).toEqual([1, 1, 3]);
    expect(runs).toBe(2);
  });

  it('starts anew after the shared work settles, whether it resolved or rejected', async () => {
    const flight = new SingleFlight<string>();
    await expect(flight.run('k', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    await expect(flight.run('k', () => Promise.resolve('up'))).resolves.toBe('up');
    await expect(flight.run('k', () => Promise.resolve('again'))).resolves.toBe('again');
  });
});
