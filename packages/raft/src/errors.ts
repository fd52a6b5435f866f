/**
 * Errors of @kv/raft.
 *
 * Three kinds, with separate shapes: {@link RaftError} is a refusal the caller
 * can branch on (stable `code`); bad input from outside also arrives as a
 * RaftError (`RAFT_INVALID_MESSAGE`, `RAFT_INVALID_CONFIG`); and
 * {@link InvariantError} is a bug in the core, never caught below the driver.
 *
 * @packageDocumentation
 */

/** Stable codes of {@link RaftError}. Each is documented in the package README. */
export type RaftErrorCode =
  | 'RAFT_NO_LEADER'
  | 'RAFT_NOT_LEADER'
  | 'RAFT_TRANSFER_IN_PROGRESS'
  | 'RAFT_CONF_CHANGE_PENDING'
  | 'RAFT_CONF_CHANGE_INVALID'
  | 'RAFT_PROPOSAL_DROPPED'
  | 'RAFT_LEADER_CHANGED'
  | 'RAFT_TIMEOUT'
  | 'RAFT_STOPPED'
  | 'RAFT_REMOVED'
  | 'RAFT_COMPACTED'
  | 'RAFT_UNAVAILABLE'
  | 'RAFT_SNAPSHOT_OUT_OF_DATE'
  | 'RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE'
  | 'RAFT_STEP_LOCAL_MESSAGE'
  | 'RAFT_STEP_PEER_NOT_FOUND'
  | 'RAFT_INVALID_MESSAGE'
  | 'RAFT_INVALID_CONFIG';

const RAFT_ERROR_BRAND = Symbol.for('kv.raft.RaftError');
const INVARIANT_ERROR_BRAND = Symbol.for('kv.raft.InvariantError');

/**
 * A refusal with a stable code: the operation did not happen, and nothing
 * else changed.
 *
 * @remarks
 * `instanceof` works across two installed copies of the package (the class
 * is branded with `Symbol.for`).
 */
export class RaftError extends Error {
  override readonly name = 'RaftError';
  readonly code: RaftErrorCode;

  constructor(code: RaftErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get [RAFT_ERROR_BRAND](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RAFT_ERROR_BRAND] === true;
  }
}

/**
 * A broken invariant: a bug in kv (or a Storage that broke its contract).
 * The driver stops the node and reports it; nothing below catches it.
 */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
  readonly code = 'RAFT_INVARIANT' as const;

  get [INVARIANT_ERROR_BRAND](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[INVARIANT_ERROR_BRAND] === true;
  }
}

/**
 * Throws {@link InvariantError} when `cond` is false. The message is built
 * lazily so hot paths pay nothing when the invariant holds.
 */
export function assert(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new InvariantError(message());
}

/** Whether `e` is a RaftError with the given code. */
export function isRaftError(e: unknown, code: RaftErrorCode): e is RaftError {
  return e instanceof RaftError && e.code === code;
}
