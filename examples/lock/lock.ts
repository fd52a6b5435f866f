// A distributed lock on the kv store, the way etcd v2 users built them:
//
//   acquire   create the key only if it is absent (prevExist=false), with a
//             TTL, and a value unique to this acquisition ("holder#nonce").
//   hold      refresh the TTL (compare-and-swap on our own value, refresh:
//             no change event) every third of the TTL; give up — abort the
//             lease's signal — the moment the lock can no longer be ours.
//   release   compare-and-delete on our own value: never someone else's lock.
//   wait      watch the key from the index we saw it at, and try again on
//             delete, compareAndDelete or expire.
//   fence     the key's createdIndex: a Raft index, so each grant of the
//             lock carries a larger token than every grant before it.
//
// A lease is only a promise that nobody *else* was granted the lock while
// ours was alive by our own clock. A paused process can outlive its TTL
// without noticing, so anything the lock protects should check the
// fencing token (refuse a token smaller than the largest it has seen).
//
// election.ts builds leader election on this; lock.test.ts tests both on
// the in-memory network with a manual clock.
import { randomBytes } from 'node:crypto';
import { realClock, RaftError, type Clock, type TimerHandle } from '@kv/raft';
import { KvError, KvErrorCode, WatchOverflowError, type KvNode, type KvNodeData } from '@kv/store';

/** Options of {@link DistributedLock}. */
export interface LockOptions {
  /**
   * Seconds the lock outlives its holder's last refresh (an integer: etcd
   * TTLs are whole seconds). A holder that crashes blocks the others this
   * long. @defaultValue 10
   */
  readonly ttlSeconds?: number;
  /** How often a holder refreshes the TTL, in ms. @defaultValue a third of the TTL */
  readonly refreshIntervalMs?: number;
  /**
   * How long before the TTL runs out (by this process's clock, counted from
   * the last refresh it *sent*) a holder that could not refresh gives up,
   * in ms: room for clock drift between members. @defaultValue a tenth of the TTL
   */
  readonly safetyMarginMs?: number;
  /** Who holds the lock, as others see it (`holder()`). @defaultValue the member's name */
  readonly holder?: string;
  /** Wait between two tries when the store has no quorum, in ms. @defaultValue 200 */
  readonly retryIntervalMs?: number;
  /**
   * The clock for refresh timers and deadlines: the memory network's
   * manual clock in tests. @defaultValue the process's clock
   */
  readonly clock?: Clock;
}

/** Who holds a lock, as read from the store. */
export interface LockHolder {
  readonly holder: string;
  /** The key's createdIndex: larger for every new grant of the lock. */
  readonly fencingToken: number;
}

/** Why a lease ended: its `signal.reason`. */
export class LockError extends Error {
  override readonly name = 'LockError';
  constructor(
    /** `LOCK_LOST`: deleted, taken over, expired or not refreshed in time, or the node closed; `LOCK_RELEASED`: `release()` was called. */
    readonly code: 'LOCK_LOST' | 'LOCK_RELEASED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A granted lock. Work done under it should stop when `signal` aborts. */
export interface LockLease {
  readonly key: string;
  /** The value stored under the key: `holder#nonce`, unique to this grant. */
  readonly value: string;
  readonly holder: string;
  /** The key's createdIndex: strictly larger than every earlier grant's. */
  readonly fencingToken: number;
  /** Aborts when the lease ends, with a {@link LockError} as its reason. */
  readonly signal: AbortSignal;
  /**
   * Stops refreshing and deletes the key if it still holds our value
   * (compare-and-delete). Resolves once the key is gone or known to be
   * someone else's; rejects when the outcome is unknown (no quorum), in
   * which case the key expires within the TTL.
   */
  release(): Promise<void>;
}

const GONE = new Set<number>([KvErrorCode.KeyNotFound, KvErrorCode.TestFailed]);
const RELEASING_ACTIONS = new Set(['delete', 'compareAndDelete', 'expire']);

/**
 * A lock on one key of a kv store, usable from any member: contenders on
 * different members exclude each other through the Raft log.
 *
 * @remarks
 * Not fair: on a release every waiter races to create the key. A holder
 * whose member is cut off or stopped loses the lock when its TTL runs out;
 * its `signal` aborts before that (by its own clock), so the old holder
 * stops before a new one can be granted the lock, as long as the members'
 * clocks agree to within `safetyMarginMs`. A held lease's refresh timer
 * keeps the process alive until the lease is released or lost.
 *
 * @example
 * ```ts
 * const lock = new DistributedLock(node, '/locks/backup', { ttlSeconds: 5 });
 * const lease = await lock.acquire({ signal });
 * try {
 *   await backup({ fencingToken: lease.fencingToken, signal: lease.signal });
 * } finally {
 *   await lease.release();
 * }
 * ```
 */
export class DistributedLock {
  readonly ttlSeconds: number;
  readonly holderName: string;
  private readonly clock: Clock;
  private readonly refreshIntervalMs: number;
  private readonly safetyMarginMs: number;
  private readonly retryIntervalMs: number;

  constructor(
    private readonly node: KvNode,
    readonly key: string,
    options: LockOptions = {},
  ) {
    const ttl = options.ttlSeconds ?? 10;
    if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError(`ttlSeconds must be a whole number >= 1, got ${ttl}`);
    this.ttlSeconds = ttl;
    this.holderName = options.holder ?? node.name;
    if (this.holderName.includes('#')) throw new RangeError(`holder must not contain '#', got ${this.holderName}`);
    this.clock = options.clock ?? realClock;
    this.refreshIntervalMs = options.refreshIntervalMs ?? (ttl * 1000) / 3;
    this.safetyMarginMs = options.safetyMarginMs ?? (ttl * 1000) / 10;
    this.retryIntervalMs = options.retryIntervalMs ?? 200;
    if (this.refreshIntervalMs >= ttl * 1000 - this.safetyMarginMs) {
      throw new RangeError(`refreshIntervalMs (${this.refreshIntervalMs}) must be shorter than the TTL less the safety margin`);
    }
  }

  /**
   * Waits until the lock is granted to this caller.
   *
   * @throws the signal's reason when `signal` aborts first (a grant that
   * raced the abort is released); `RaftError` `RAFT_STOPPED` when the node
   * closes.
   */
  async acquire(options: { signal?: AbortSignal } = {}): Promise<LockLease> {
    const { signal } = options;
    const value = `${this.holderName}#${randomBytes(6).toString('hex')}`;
    for (;;) {
      signal?.throwIfAborted();
      const sentAt = this.clock.now();
      let lease: Lease;
      try {
        const ev = await this.node.create(this.key, value, { ttl: this.ttlSeconds });
        lease = this.grant(ev.node, value, sentAt);
      } catch (e) {
        if (isKvError(e, KvErrorCode.NodeExist)) {
          const seen = await this.readForWait();
          if (seen === undefined) continue; // gone already: try again
          if (seen.value === value) {
            // An earlier try timed out but did commit: the lock is ours, for
            // a TTL counted from a refresh sent now.
            const adopted = await this.adopt(seen.node, value);
            if (adopted === undefined) continue;
            lease = adopted;
          } else {
            await this.waitForRelease(seen.index + 1, signal);
            continue;
          }
        } else if (isTransient(e)) {
          await delay(this.clock, this.retryIntervalMs, signal);
          continue;
        } else {
          throw e;
        }
      }
      if (signal?.aborted) {
        await lease.release().catch(() => undefined);
        signal.throwIfAborted();
      }
      return lease;
    }
  }

  /** Takes the lock if nobody holds it; resolves with `undefined` if someone does. */
  async tryAcquire(): Promise<LockLease | undefined> {
    const value = `${this.holderName}#${randomBytes(6).toString('hex')}`;
    const sentAt = this.clock.now();
    try {
      return this.grant((await this.node.create(this.key, value, { ttl: this.ttlSeconds })).node, value, sentAt);
    } catch (e) {
      if (isKvError(e, KvErrorCode.NodeExist)) return undefined;
      throw e;
    }
  }

  /** Who holds the lock now (a linearizable read), or `undefined`. */
  async holder(): Promise<LockHolder | undefined> {
    try {
      return parseHolder((await this.node.get(this.key)).node);
    } catch (e) {
      if (isKvError(e, KvErrorCode.KeyNotFound)) return undefined;
      throw e;
    }
  }

  /**
   * Yields the holder (or `undefined`) as this member's replica sees it:
   * first the current one, then after every change. Ends when `signal`
   * aborts or the node closes.
   */
  async *observe(options: { signal?: AbortSignal } = {}): AsyncGenerator<LockHolder | undefined> {
    const { signal } = options;
    let last: string | undefined | null = null; // null: nothing yielded yet
    const changed = (h: LockHolder | undefined): boolean => {
      const id = h && `${h.holder}@${h.fencingToken}`;
      if (id === last) return false;
      last = id;
      return true;
    };
    while (!signal?.aborted) {
      // Serializable: an observer reports this replica's view and needs no
      // quorum; the watch continues exactly where the read left off.
      let index: number;
      let current: LockHolder | undefined;
      try {
        const r = await this.node.get(this.key, { consistency: 'serializable' });
        current = parseHolder(r.node);
        index = r.index;
      } catch (e) {
        if (!isKvError(e, KvErrorCode.KeyNotFound)) throw e;
        current = undefined;
        index = e.index;
      }
      if (changed(current)) yield current;
      try {
        for await (const ev of this.node.watch(this.key, { waitIndex: index + 1, ...(signal ? { signal } : {}) })) {
          const h = RELEASING_ACTIONS.has(ev.action) ? undefined : parseHolder(ev.node);
          if (changed(h)) yield h;
        }
        return; // aborted, or the node closed
      } catch (e) {
        // The watch fell behind (history cleared, buffer full): read again.
        if (!isKvError(e, KvErrorCode.EventIndexCleared) && !(e instanceof WatchOverflowError)) throw e;
      }
    }
  }

  private grant(node: KvNodeData, value: string, sentAt: number): Lease {
    return new Lease({
      node: this.node,
      key: this.key,
      value,
      holder: this.holderName,
      fencingToken: node.createdIndex,
      ttlSeconds: this.ttlSeconds,
      clock: this.clock,
      refreshIntervalMs: this.refreshIntervalMs,
      lifetimeMs: this.ttlSeconds * 1000 - this.safetyMarginMs,
      sentAt,
    });
  }

  private async adopt(node: KvNodeData, value: string): Promise<Lease | undefined> {
    const sentAt = this.clock.now();
    try {
      await this.node.set(this.key, undefined, { refresh: true, ttl: this.ttlSeconds, prevValue: value });
      return this.grant(node, value, sentAt);
    } catch (e) {
      if (isKvError(e) && GONE.has(e.errorCode)) return undefined;
      throw e;
    }
  }

  /** The key's value and the index to watch from, or `undefined` if it is gone. */
  private async readForWait(): Promise<{ value: unknown; index: number; node: KvNodeData } | undefined> {
    try {
      const r = await this.node.get(this.key);
      return { value: r.node.value, index: r.index, node: r.node };
    } catch (e) {
      if (isKvError(e, KvErrorCode.KeyNotFound)) return undefined;
      if (isTransient(e)) return undefined; // try the create again
      throw e;
    }
  }

  /** Returns once the key is deleted or expires after `waitIndex`, the watch ends, or `signal` aborts. */
  private async waitForRelease(waitIndex: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      for await (const ev of this.node.watch(this.key, { waitIndex, ...(signal ? { signal } : {}) })) {
        if (RELEASING_ACTIONS.has(ev.action)) return;
      }
    } catch {
      // History cleared or the watch fell behind: the caller tries again.
    }
  }
}

interface LeaseParts {
  readonly node: KvNode;
  readonly key: string;
  readonly value: string;
  readonly holder: string;
  readonly fencingToken: number;
  readonly ttlSeconds: number;
  readonly clock: Clock;
  readonly refreshIntervalMs: number;
  /** How long after a refresh was sent the lease still counts as ours. */
  readonly lifetimeMs: number;
  /** When the create (or refresh) that granted the lease was sent. */
  readonly sentAt: number;
}

/** A held lock: refreshes itself until released or lost. */
class Lease implements LockLease {
  readonly key: string;
  readonly value: string;
  readonly holder: string;
  readonly fencingToken: number;
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly refresher: TimerHandle;
  private deadline: TimerHandle | undefined;
  private refreshing = false;

  constructor(private readonly p: LeaseParts) {
    this.key = p.key;
    this.value = p.value;
    this.holder = p.holder;
    this.fencingToken = p.fencingToken;
    this.signal = this.controller.signal;
    this.extend(p.sentAt);
    this.refresher = p.clock.setInterval(() => void this.refresh(), p.refreshIntervalMs);
  }

  async release(): Promise<void> {
    this.end(new LockError('LOCK_RELEASED', `${this.value} released ${this.key}`));
    try {
      await this.p.node.compareAndDelete(this.key, { prevValue: this.value });
    } catch (e) {
      if (isKvError(e) && GONE.has(e.errorCode)) return; // expired or taken over already
      throw e;
    }
  }

  /** The lease lives `lifetimeMs` past the send time of the last refresh that succeeded. */
  private extend(sentAt: number): void {
    if (this.signal.aborted) return;
    if (this.deadline !== undefined) this.p.clock.clearTimeout(this.deadline);
    const left = sentAt + this.p.lifetimeMs - this.p.clock.now();
    this.deadline = this.p.clock.setTimeout(
      () => this.end(new LockError('LOCK_LOST', `${this.value} could not refresh ${this.key} within its TTL of ${this.p.ttlSeconds} s`)),
      left,
    );
  }

  private async refresh(): Promise<void> {
    if (this.refreshing || this.signal.aborted) return;
    this.refreshing = true;
    const sentAt = this.p.clock.now();
    try {
      await this.p.node.set(this.key, undefined, { refresh: true, ttl: this.p.ttlSeconds, prevValue: this.value });
      this.extend(sentAt);
    } catch (e) {
      if (isKvError(e) && GONE.has(e.errorCode)) {
        this.end(new LockError('LOCK_LOST', `${this.key} was deleted, expired or taken over (${e.cause})`, { cause: e }));
      } else if (e instanceof RaftError && (e.code === 'RAFT_STOPPED' || e.code === 'RAFT_REMOVED')) {
        this.end(new LockError('LOCK_LOST', `the member holding ${this.key} stopped`, { cause: e }));
      }
      // Otherwise no quorum for now: the deadline decides.
    } finally {
      this.refreshing = false;
    }
  }

  private end(reason: LockError): void {
    if (this.signal.aborted) return;
    this.p.clock.clearInterval(this.refresher);
    if (this.deadline !== undefined) this.p.clock.clearTimeout(this.deadline);
    this.controller.abort(reason);
  }
}

function parseHolder(node: KvNodeData): LockHolder | undefined {
  if (typeof node.value !== 'string') return undefined;
  const at = node.value.lastIndexOf('#');
  return { holder: at < 0 ? node.value : node.value.slice(0, at), fencingToken: node.createdIndex };
}

function isKvError(e: unknown, code?: number): e is KvError {
  return e instanceof KvError && (code === undefined || e.errorCode === code);
}

/** Errors after which trying again may succeed: no leader or quorum yet. */
function isTransient(e: unknown): boolean {
  if (e instanceof RaftError) return e.code !== 'RAFT_STOPPED' && e.code !== 'RAFT_REMOVED';
  return isKvError(e, KvErrorCode.RaftInternal) || isKvError(e, KvErrorCode.LeaderElect);
}

/** Waits `ms` on `clock`; rejects with the signal's reason if it aborts first. */
function delay(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
