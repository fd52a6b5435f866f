/**
 * Errors of @kv/store.
 *
 * {@link KvError} carries etcd v2's numeric error codes and messages, so the
 * HTTP layer can hand them to etcd clients unchanged; `cause` is the key (or
 * the failed comparison) and `index` the store index when it happened.
 *
 * @packageDocumentation
 */

/** etcd v2 error codes (etcd's `Documentation/v2/errorcode.md`). */
export const KvErrorCode = {
  KeyNotFound: 100,
  TestFailed: 101,
  NotFile: 102,
  NotDir: 104,
  NodeExist: 105,
  RootReadOnly: 107,
  DirNotEmpty: 108,
  Unauthorized: 110,
  ValueRequired: 200,
  PrevValueRequired: 201,
  TtlNaN: 202,
  IndexNaN: 203,
  InvalidField: 209,
  InvalidForm: 210,
  RefreshValue: 211,
  RefreshTtlRequired: 212,
  RaftInternal: 300,
  LeaderElect: 301,
  WatcherCleared: 400,
  EventIndexCleared: 401,
} as const;

/** One of {@link KvErrorCode}'s values. */
export type KvErrorCodeValue = (typeof KvErrorCode)[keyof typeof KvErrorCode];

/** etcd's message for each code, word for word. */
const MESSAGES: Record<KvErrorCodeValue, string> = {
  100: 'Key not found',
  101: 'Compare failed',
  102: 'Not a file',
  104: 'Not a directory',
  105: 'Key already exists',
  107: 'Root is read only',
  108: 'Directory not empty',
  110: 'The request requires user authentication',
  200: 'Value is Required in POST form',
  201: 'PrevValue is Required in POST form',
  202: 'The given TTL in POST form is not a number',
  203: 'The given index in POST form is not a number',
  209: 'Invalid field',
  210: 'Invalid POST form',
  211: 'Value provided on refresh',
  212: 'A TTL must be provided on refresh',
  300: 'Raft Internal Error',
  301: 'During Leader Election',
  400: 'watcher is cleared due to etcd recovery',
  401: 'The event in requested index is outdated and cleared',
};

const KV_ERROR_BRAND = Symbol.for('kv.store.KvError');

/**
 * A refusal from the key store, with etcd v2's `errorCode`, `message`,
 * `cause` and `index`.
 *
 * @remarks
 * Branded with `Symbol.for`, so `instanceof` holds across two copies of the
 * package. `code` is the same number as `errorCode` (Node's convention).
 *
 * @example
 * ```ts
 * try { await node.get('/missing'); }
 * catch (e) { if (e instanceof KvError && e.errorCode === 100) { ... } }
 * ```
 */
export class KvError extends Error {
  override readonly name = 'KvError';
  readonly errorCode: KvErrorCodeValue;
  /** The key, or the failed comparison (`[two != one]`), as etcd reports it. */
  override readonly cause: string;
  /** The store index when the error happened. */
  readonly index: number;

  constructor(errorCode: KvErrorCodeValue, cause: string, index: number, message?: string) {
    super(message ?? MESSAGES[errorCode]);
    this.errorCode = errorCode;
    this.cause = cause;
    this.index = index;
  }

  /** Same as `errorCode`. */
  get code(): KvErrorCodeValue {
    return this.errorCode;
  }

  /** The etcd v2 JSON error body. */
  toJSON(): { errorCode: number; message: string; cause: string; index: number } {
    return { errorCode: this.errorCode, message: this.message, cause: this.cause, index: this.index };
  }

  get [KV_ERROR_BRAND](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[KV_ERROR_BRAND] === true;
  }
}

/** etcd's message for a code. */
export function kvErrorMessage(code: KvErrorCodeValue): string {
  return MESSAGES[code];
}

const OVERFLOW_BRAND = Symbol.for('kv.store.WatchOverflowError');

/**
 * A watcher fell too far behind: its buffer filled (the consumer was slower
 * than the writes) and the watch ended rather than hold up the apply loop or
 * grow without bound. Watch again from `resumeIndex` to continue without a
 * gap (events at exactly that index may repeat).
 */
export class WatchOverflowError extends Error {
  override readonly name = 'WatchOverflowError';
  readonly code = 'STORE_WATCH_OVERFLOW' as const;
  constructor(
    readonly resumeIndex: number,
    readonly bufferSize: number,
  ) {
    super(`watcher fell behind: ${bufferSize} events buffered and not consumed; watch again with waitIndex ${resumeIndex} to resume`);
  }

  get [OVERFLOW_BRAND](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[OVERFLOW_BRAND] === true;
  }
}
