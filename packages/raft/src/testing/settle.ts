import type { ManualClock } from './manual-clock.js';

/** How a promise ended, as seen by {@link track}: with the virtual time it settled at. */
export type Outcome<T> =
  | { readonly status: 'fulfilled'; readonly value: T; readonly at: number }
  | { readonly status: 'rejected'; readonly error: Error & { code?: unknown }; readonly at: number }
  | { readonly status: 'pending' };

/**
 * Follows a promise under a manual clock: `outcome()` tells how it ended
 * (and at what virtual time) or that it is still pending. Attach it before
 * time moves so the settle time is exact.
 *
 * @example
 * ```ts
 * const write = track(net.clock, node.propose(data));
 * await net.clock.waitFor(write.settled);
 * ```
 */
export function track<T>(clock: ManualClock, p: Promise<T>): { outcome: () => Outcome<T>; settled: () => boolean } {
  let o: Outcome<T> = { status: 'pending' };
  p.then(
    (value) => void (o = { status: 'fulfilled', value, at: clock.now() }),
    (error: Error & { code?: unknown }) => void (o = { status: 'rejected', error, at: clock.now() }),
  );
  return { outcome: () => o, settled: () => o.status !== 'pending' };
}

/**
 * Advances a manual clock until `p` settles, or until `timeoutMs` of
 * virtual time passed (the outcome is then `pending`): how a test awaits
 * a promise whose progress needs time to move.
 */
export async function settle<T>(clock: ManualClock, p: Promise<T>, timeoutMs = 20_000): Promise<Outcome<T>> {
  const t = track(clock, p);
  await clock.waitFor(t.settled, { timeoutMs }).catch(() => undefined);
  return t.outcome();
}
