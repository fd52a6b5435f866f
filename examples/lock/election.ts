// Leader election for the instances of a service, on the lock of lock.ts:
// the leader is whoever holds the lock at the election's key. Campaigning
// waits for the lock; resigning releases it, so the next candidate takes
// over at once; a leader that crashes or is cut off is replaced once its
// TTL runs out. Each term of leadership carries a fencing token (the
// lock's createdIndex) that only grows.
//
// This is application-level leadership, separate from the Raft leader of
// the kv cluster: it survives Raft elections, it is held by whichever
// instance campaigns, and it comes with a fencing token for the work done
// under it. examples/service/ runs it across three processes.
import type { KvNode } from '@kv/store';
import { DistributedLock, type LockHolder, type LockLease, type LockOptions } from './lock.ts';

/** Options of {@link Election}. */
export interface ElectionOptions extends Omit<LockOptions, 'holder'> {
  /** This candidate's name, as observers see it. @defaultValue the member's name */
  readonly name?: string;
}

/**
 * One candidate in an election held at `key`.
 *
 * @example
 * ```ts
 * const election = new Election(node, '/service/leader', { name: 'svc-a', ttlSeconds: 3 });
 * const term = await election.campaign();
 * runLeaderOnlyJob({ fencingToken: term.fencingToken, signal: term.signal });
 * // ... later, to hand over without waiting for the TTL:
 * await election.resign();
 * ```
 */
export class Election {
  private readonly lock: DistributedLock;
  private term: LockLease | undefined;
  private campaigning: Promise<LockLease> | undefined;

  constructor(node: KvNode, readonly key: string, options: ElectionOptions = {}) {
    const { name, ...lockOptions } = options;
    this.lock = new DistributedLock(node, key, { ...lockOptions, holder: name ?? node.name });
  }

  /** This candidate's name. */
  get name(): string {
    return this.lock.holderName;
  }

  /** Whether this candidate leads now (by its own clock: see {@link LockLease.signal}). */
  get isLeader(): boolean {
    return this.term !== undefined && !this.term.signal.aborted;
  }

  /**
   * Waits until this candidate is elected. Resolves with its term of
   * leadership, whose `signal` aborts when the term ends (resigned, or lost:
   * not refreshed in time, or the member stopped). Campaigning again while
   * campaigning or leading returns the same term (one candidate never
   * competes with itself).
   *
   * @throws the signal's reason if `signal` aborts first.
   */
  campaign(options: { signal?: AbortSignal } = {}): Promise<LockLease> {
    if (this.term !== undefined && !this.term.signal.aborted) return Promise.resolve(this.term);
    this.campaigning ??= this.lock.acquire(options).then(
      (term) => {
        this.campaigning = undefined;
        this.term = term;
        return term;
      },
      (e: unknown) => {
        this.campaigning = undefined;
        throw e;
      },
    );
    return this.campaigning;
  }

  /**
   * Steps down if leading, so that another candidate is elected at once.
   * (A campaign still waiting goes on: abort its signal to stop it.)
   */
  async resign(): Promise<void> {
    const term = this.term;
    this.term = undefined;
    await term?.release();
  }

  /** The current leader (a linearizable read), or `undefined` between terms. */
  leader(): Promise<LockHolder | undefined> {
    return this.lock.holder();
  }

  /**
   * Yields the leader as this member's replica sees it, first the current
   * one and then on every change (`undefined` between terms). Ends when
   * `signal` aborts or the node closes.
   */
  observe(options: { signal?: AbortSignal } = {}): AsyncGenerator<LockHolder | undefined> {
    return this.lock.observe(options);
  }
}
