/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** The first delay before jitter, in milliseconds. */
  readonly minMs: number;
  /** The largest delay, in milliseconds; delays double until they reach it. */
  readonly maxMs: number;
  /** A source of numbers in [0, 1): `Math.random` unless a test injects one. */
  readonly random?: () => number;
}

/**
 * Exponential backoff with jitter for reconnecting to one peer.
 *
 * @remarks
 * Attempt n (from 0) waits a uniformly random time in
 * `[d/2, d)` where `d = min(maxMs, minMs × 2^n)` ("equal jitter"): never
 * less than half the nominal delay, so a dead peer is not hammered, and
 * spread out, so members that lost the same peer do not redial it in step.
 * {@link Backoff.reset} after a connection succeeds.
 *
 * ```
 * minMs 100, maxMs 2000:  [50,100) [100,200) [200,400) [400,800) [800,1600) [1000,2000) [1000,2000) …
 * ```
 */
export class Backoff {
  #attempt = 0;
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;

  constructor(options: BackoffOptions) {
    this.#minMs = options.minMs;
    this.#maxMs = Math.max(options.minMs, options.maxMs);
    this.#random = options.random ?? Math.random;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt, in milliseconds; counts one more failure. */
  next(): number {
    // 2^30 is far past any cap; stop the exponent there to keep it finite.
    const nominal = Math.min(this.#maxMs, this.#minMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.floor(nominal / 2 + this.#random() * (nominal / 2));
  }

  /** Starts over at `minMs`: the last attempt succeeded. */
  reset(): void {
    this.#attempt = 0;
  }
}
