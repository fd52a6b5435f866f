/**
 * A source of randomness injected into the core, so that election jitter is
 * reproducible from a seed.
 */
export interface RandomSource {
  /** A uniformly distributed integer in `[0, n)`. */
  intn(n: number): number;
}

/**
 * A small, fast seeded generator (mulberry32). Not for cryptography: it only
 * spreads election timeouts.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * random.intn(10); // same value for the same seed, every run
 * ```
 */
export function seededRandom(seed: number): RandomSource & { next(): number } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    intn(n: number): number {
      return Math.floor(next() * n);
    },
  };
}

/** A 32-bit FNV-1a hash of a string, used to derive a default seed from a node ID. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
