import type { Index, Term } from '../types.js';

/** A committed entry as the state machine sees it: the proposer's bytes, and where it sits. */
export interface AppliedEntry {
  readonly index: Index;
  readonly term: Term;
  readonly data: Uint8Array;
}

/**
 * The replicated state: whatever the host keeps consistent across members.
 * Implemented by hosts (the key tree of @kv/store is one); used by
 * {@link RaftNode}.
 *
 * @remarks
 * - `apply` is called once per committed entry, in log order, on every
 *   member. It must be deterministic: the same entries give the same state
 *   everywhere. Its return value settles the proposer's promise (on the
 *   member that proposed). If it throws, the node stops: a state machine that
 *   fails on some members and not others would diverge.
 * - `snapshot` returns the whole state as bytes, for compaction and for
 *   followers too far behind. It is called between applies.
 * - `restore` replaces all state with a snapshot's bytes (discarding what
 *   was there).
 */
export interface StateMachine<R = unknown> {
  apply(entry: AppliedEntry): R;
  snapshot(): Uint8Array | Promise<Uint8Array>;
  restore(data: Uint8Array): void | Promise<void>;
}
