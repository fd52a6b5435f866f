import type { Clock, TimerHandle } from '../node/transport.js';

/** Options of {@link ManualClock.runFor}. */
export interface RunForOptions {
  /**
   * Advance in steps of this many milliseconds, yielding to the event loop
   * at every step boundary even when no timer is due.
   * @defaultValue the whole duration, in one step
   */
  readonly stepMs?: number;
}

/** Options of {@link ManualClock.waitFor}. */
export interface WaitForOptions {
  /**
   * Virtual milliseconds to wait before giving up with an Error.
   * @defaultValue 10000
   */
  readonly timeoutMs?: number;
  /**
   * Virtual milliseconds advanced between two checks of the predicate.
   * Smaller steps find the moment the condition became true more precisely;
   * larger ones run fewer checks.
   * @defaultValue 10
   */
  readonly stepMs?: number;
  /** What is being waited for, quoted in the timeout error ("a leader is elected"). */
  readonly description?: string;
}

/**
 * Most timer callbacks {@link ManualClock.advance} runs at one instant of
 * virtual time before it concludes that zero-delay timers keep rescheduling
 * each other and stops with an Error instead of hanging.
 */
const MAX_FIRINGS_PER_INSTANT = 100_000;

/** One scheduled callback. A re-armed interval is a new Timer with the same handle. */
interface Timer {
  readonly handle: { readonly id: number };
  readonly fn: () => void;
  /** Virtual time at which it fires. */
  readonly at: number;
  /** Tie-break for equal `at`: the order timers were armed in. */
  readonly seq: number;
  /** Set for intervals: the period, at least 1 ms. */
  readonly intervalMs?: number;
}

/**
 * A {@link Clock} whose time moves only when a test says so, so that
 * election timeouts, heartbeats and network delays run in microseconds of
 * real time and the same way on every run.
 *
 * @remarks
 * Contract:
 * - `now()` starts at 0 and changes only inside {@link ManualClock.advance}
 *   (and the helpers built on it). While a timer's callback runs, `now()` is
 *   exactly the time that timer was due.
 * - Timers fire in order of due time; timers due at the same time fire in the
 *   order they were armed. A timer armed by a callback fires in the same
 *   `advance` call if it falls due within it. Intervals are re-armed at
 *   `due + period` before their callback runs, and keep firing until cleared.
 * - A delay that is negative or not finite counts as 0: the timer fires at
 *   the current time, on the next `advance` (even `advance(0)`). An interval
 *   period is at least 1 ms, so an interval can never stall time.
 * - Before each firing, and once more before `advance` returns, the clock
 *   yields to the event loop (one `setImmediate`), so promise chains started
 *   by a callback settle before the next callback runs. Work waiting on real
 *   I/O (a file write, a socket) may need more than one yield: wait for it
 *   with {@link ManualClock.waitFor} rather than assuming it is done.
 * - A callback that throws makes `advance` reject with that error; the clock
 *   stays consistent (the timer was already removed or re-armed), so the
 *   test may go on advancing.
 * - One `advance` at a time: calling it while another is running (for
 *   instance from a timer callback) rejects with an Error.
 *
 * The clock uses no real timers besides `setImmediate` for yielding.
 *
 * @example
 * ```ts
 * import { ManualClock } from '@kv/raft/testing';
 *
 * const clock = new ManualClock();
 * const seen: number[] = [];
 * clock.setTimeout(() => seen.push(clock.now()), 50);
 * const beat = clock.setInterval(() => seen.push(clock.now()), 20);
 * await clock.advance(70);      // seen: [20, 40, 50, 60]
 * clock.clearInterval(beat);
 * await clock.waitFor(() => seen.length === 4, { timeoutMs: 1000 });
 * ```
 */
export class ManualClock implements Clock {
  #now = 0;
  #nextId = 1;
  #nextSeq = 0;
  #advancing = false;
  /** Live timers by handle id. Invariant: every live timer is also in `#heap`. */
  readonly #timers = new Map<number, Timer>();
  /**
   * A binary min-heap on (at, seq). Cleared and re-armed timers stay in it
   * until they reach the top; a heap entry is live only while
   * `#timers.get(t.handle.id) === t`.
   */
  readonly #heap: Timer[] = [];

  /** Virtual milliseconds since the clock was created. */
  now(): number {
    return this.#now;
  }

  /** Runs `fn` once, `ms` virtual milliseconds from now. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = Object.freeze({ id: this.#nextId++ });
    this.#arm({ handle, fn, at: this.#now + clampDelay(ms), seq: this.#nextSeq++ });
    return handle;
  }

  /** Cancels a timeout or an interval. Unknown, foreign or already fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void {
    const id = handleId(handle);
    if (id !== undefined && this.#timers.get(id)?.handle === handle) this.#timers.delete(id);
  }

  /** Runs `fn` every `ms` virtual milliseconds (at least 1) until cleared. */
  setInterval(fn: () => void, ms: number): TimerHandle {
    const handle = Object.freeze({ id: this.#nextId++ });
    const intervalMs = Math.max(1, clampDelay(ms));
    this.#arm({ handle, fn, at: this.#now + intervalMs, seq: this.#nextSeq++, intervalMs });
    return handle;
  }

  /** Cancels an interval (or a timeout: the two are interchangeable, as in Node). */
  clearInterval(handle: TimerHandle): void {
    this.clearTimeout(handle);
  }

  /** How many timers (timeouts not yet fired, and intervals not cleared) are scheduled. */
  pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way,
   * in time order, and yielding to the event loop before each one.
   *
   * @remarks
   * When it resolves, `now()` has grown by exactly `ms`.
   *
   * @throws RangeError when `ms` is negative or not finite.
   * @throws Error when called while another `advance` is running, or when
   *   more than 100000 timers fire at a single instant (zero-delay timers
   *   rescheduling each other forever). Rejects with whatever a timer
   *   callback throws.
   */
  async advance(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`ManualClock.advance: ms must be a finite number >= 0, got ${ms}`);
    }
    if (this.#advancing) {
      throw new Error('ManualClock.advance: called while another advance() is running (from a timer callback, or without awaiting the previous one)');
    }
    this.#advancing = true;
    try {
      const target = this.#now + ms;
      let firedAtInstant = 0;
      for (;;) {
        await yieldToEventLoop();
        const timer = this.#peekLive();
        if (timer === undefined || timer.at > target) break;
        this.#popTop();
        if (timer.at === this.#now) {
          if (++firedAtInstant > MAX_FIRINGS_PER_INSTANT) {
            throw new Error(
              `ManualClock.advance: more than ${MAX_FIRINGS_PER_INSTANT} timers fired at t=${this.#now} ms; ` +
                'zero-delay timers are probably rescheduling each other forever',
            );
          }
        } else {
          firedAtInstant = 1;
          this.#now = timer.at;
        }
        if (timer.intervalMs === undefined) {
          this.#timers.delete(timer.handle.id);
        } else {
          this.#arm({ ...timer, at: timer.at + timer.intervalMs, seq: this.#nextSeq++ });
        }
        timer.fn();
      }
      this.#now = target;
    } finally {
      this.#advancing = false;
    }
  }

  /**
   * Advances `ms` virtual milliseconds, in steps of `stepMs`.
   *
   * @remarks
   * The same as `advance(ms)` when no step is given. With a step, the clock
   * also yields at each step boundary, which gives I/O-bound work started by
   * a timer more chances to finish before time moves on.
   *
   * @throws RangeError when `ms` is negative or not finite, or `stepMs` is not positive.
   */
  async runFor(ms: number, options: RunForOptions = {}): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`ManualClock.runFor: ms must be a finite number >= 0, got ${ms}`);
    }
    const stepMs = options.stepMs ?? ms;
    if (options.stepMs !== undefined && !(stepMs > 0 && Number.isFinite(stepMs))) {
      throw new RangeError(`ManualClock.runFor: stepMs must be a finite number > 0, got ${options.stepMs}`);
    }
    let left = ms;
    do {
      const step = Math.min(stepMs, left);
      await this.advance(step);
      left -= step;
    } while (left > 0);
  }

  /**
   * Advances time in steps of `stepMs` until `predicate` returns true, and
   * resolves with the virtual milliseconds that took.
   *
   * @remarks
   * The predicate is checked once before time moves (so a condition that
   * already holds costs nothing) and after every step. It may be async.
   *
   * @throws Error when the predicate is still false after `timeoutMs` virtual
   *   milliseconds; the message names the description, the elapsed virtual
   *   time and the clock's time. Rejects with whatever the predicate or a
   *   timer callback throws.
   * @throws RangeError when `timeoutMs` is negative or `stepMs` is not positive.
   *
   * @example
   * ```ts
   * const ms = await clock.waitFor(() => nodes.some((n) => n.status().isLeader), {
   *   timeoutMs: 5000,
   *   description: 'a leader is elected',
   * });
   * ```
   */
  async waitFor(predicate: () => boolean | Promise<boolean>, options: WaitForOptions = {}): Promise<number> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const stepMs = options.stepMs ?? 10;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new RangeError(`ManualClock.waitFor: timeoutMs must be a finite number >= 0, got ${timeoutMs}`);
    }
    if (!(stepMs > 0 && Number.isFinite(stepMs))) {
      throw new RangeError(`ManualClock.waitFor: stepMs must be a finite number > 0, got ${stepMs}`);
    }
    const start = this.#now;
    for (;;) {
      if (await predicate()) return this.#now - start;
      const elapsed = this.#now - start;
      if (elapsed >= timeoutMs) {
        const what = options.description ?? 'condition';
        throw new Error(
          `ManualClock.waitFor: ${what} still false after ${elapsed} ms of virtual time ` +
            `(timeoutMs ${timeoutMs}, stepMs ${stepMs}, now ${this.#now} ms)`,
        );
      }
      await this.advance(Math.min(stepMs, timeoutMs - elapsed));
    }
  }

  #arm(timer: Timer): void {
    this.#timers.set(timer.handle.id, timer);
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  /** The earliest live timer, discarding cleared and superseded entries on the way. */
  #peekLive(): Timer | undefined {
    while (this.#heap.length > 0) {
      const top = this.#heap[0];
      if (this.#timers.get(top.handle.id) === top) return top;
      this.#popTop();
    }
    return undefined;
  }

  #popTop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < heap.length && before(heap[l], heap[least])) least = l;
      if (r < heap.length && before(heap[r], heap[least])) least = r;
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least], heap[i]];
      i = least;
    }
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function clampDelay(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

function handleId(handle: TimerHandle): number | undefined {
  if (typeof handle !== 'object' || handle === null || !('id' in handle)) return undefined;
  const id: unknown = handle.id;
  return typeof id === 'number' ? id : undefined;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
