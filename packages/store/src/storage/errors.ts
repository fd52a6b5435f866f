/**
 * Errors of kv's durable storage (the classic-level store under `dataDir`).
 *
 * @packageDocumentation
 */

/**
 * Stable codes of {@link StorageError}. Each is documented in the package
 * README under `### StorageError`.
 */
export type StorageErrorCode =
  /** A record failed its checksum (or is missing) in a place recovery cannot repair. */
  | 'STORE_CORRUPT'
  /** Another process, or another handle in this process, has the data directory open. */
  | 'STORE_DATA_DIR_LOCKED'
  /** The data directory belongs to another cluster. */
  | 'STORE_CLUSTER_ID_MISMATCH'
  /** The data directory is that of a member removed from its cluster. */
  | 'STORE_MEMBER_REMOVED'
  /** The store was closed (or is closing) when the operation was called. */
  | 'STORE_CLOSED'
  /** The database failed to open, read or write; `cause` holds classic-level's error. */
  | 'STORE_IO';

const STORAGE_ERROR_BRAND = Symbol.for('kv.store.StorageError');

/**
 * A refusal or failure of the durable store under `dataDir`, with a stable
 * `code` and a message that names the data directory (and the log index,
 * where one is at fault).
 *
 * @remarks
 * Branded with `Symbol.for`, so `instanceof` holds across two copies of the
 * package. `dir` is the data directory as given; `index` is set for
 * `STORE_CORRUPT` when a log entry is at fault.
 *
 * @example
 * ```ts
 * try { await createNode({ ..., dataDir: './m1.kv' }); }
 * catch (e) { if (e instanceof StorageError && e.code === 'STORE_DATA_DIR_LOCKED') console.error(e.message); }
 * ```
 */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: StorageErrorCode;
  /** The data directory concerned. */
  readonly dir: string;
  /** The log index at fault, for `STORE_CORRUPT` on an entry. */
  readonly index: number | undefined;
  /** The process holding the lock, for `STORE_DATA_DIR_LOCKED` when known. */
  readonly pid: number | undefined;

  constructor(
    code: StorageErrorCode,
    message: string,
    details: { dir: string; index?: number; pid?: number; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.dir = details.dir;
    this.index = details.index;
    this.pid = details.pid;
  }

  get [STORAGE_ERROR_BRAND](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[STORAGE_ERROR_BRAND] === true;
  }
}

/** Whether `e` is a {@link StorageError}, optionally with the given code. */
export function isStorageError(e: unknown, code?: StorageErrorCode): e is StorageError {
  return e instanceof StorageError && (code === undefined || e.code === code);
}
