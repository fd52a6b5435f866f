/** What happened to a key, as etcd v2 names it. */
export type KvAction = 'get' | 'set' | 'create' | 'update' | 'delete' | 'expire' | 'compareAndSwap' | 'compareAndDelete';

/**
 * A node of the key tree as handed out: a value or a directory, with the
 * Raft index that created it and the one that last changed it.
 *
 * @remarks
 * Values are frozen where JavaScript allows it; byte-array values must not
 * be mutated.
 */
export interface KvNodeData {
  readonly key: string;
  readonly value?: unknown;
  readonly dir?: true;
  /** Children, for directories read with `get` (expanded recursively with `recursive`). */
  readonly nodes?: readonly KvNodeData[];
  readonly createdIndex: number;
  readonly modifiedIndex: number;
  /** When the key expires (RFC 3339), if it has a TTL. */
  readonly expiration?: string;
  /** Seconds left until it expires, rounded up, if it has a TTL. */
  readonly ttl?: number;
}

/** The outcome of an operation, and what watchers see: `{ action, node, prevNode?, index }`. */
export interface KvEvent {
  readonly action: KvAction;
  readonly node: KvNodeData;
  /** The node as it was before a change. */
  readonly prevNode?: KvNodeData;
  /** The store index: for a change, the Raft index it was applied at. */
  readonly index: number;
}
