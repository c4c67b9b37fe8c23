/** Seeded randomness and rounding shared by the synthetic generators. */

// Math functions bound once: hot loops then skip a global lookup per call, which is costly
// inside vm contexts (Jest runs every test file in one).
const { cos, imul, log, PI, round: mathRound, sqrt } = Math;

/** 32-bit FNV-1a hash of a string. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32 PRNG: answers uniform numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller) from two uniforms of `rand`. */
export function normal(rand: () => number): number {
  const u = 1 - rand();
  const v = rand();
  return sqrt(-2 * log(u)) * cos(2 * PI * v);
}

/** `value` rounded to `decimals` decimal places. */
export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return mathRound(value * f) / f;
}
