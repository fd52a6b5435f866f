/**
 * The values that cross the core's boundary: log entries, messages, the
 * persistent and volatile state, and the {@link Ready} batch.
 *
 * Wire values (`MessageType`, `EntryType`) are pinned numbers: they are
 * persisted and sent between peers, so they are never renumbered.
 *
 * @packageDocumentation
 */

/** A Raft term. Monotonic per node; 0 means "no term" (a local message). */
export type Term = number;
/** A log position. The first real entry has index 1; 0 means "none". */
export type Index = number;
/** A member ID. The empty string {@link NONE} means "no node". */
export type NodeId = string;

/** The absent node: no leader, no vote. */
export const NONE: NodeId = '';

/** What an entry carries. Pinned wire values. */
export enum EntryType {
  /** Application data (empty data: a leader's no-op at the start of its term). */
  Normal = 0,
  /** A membership change, applied to the core when committed. */
  ConfChange = 1,
}

/** One log entry. Entries handed out by the core are never mutated afterwards. */
export interface Entry {
  readonly term: Term;
  readonly index: Index;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** Message kinds, named as in etcd-io/raft. Pinned wire values. */
export enum MessageType {
  /** Local: start an election (or pre-election). */
  MsgHup = 0,
  /** Local: leader, send heartbeats now. */
  MsgBeat = 1,
  /** Propose entries (local, or forwarded by a follower to the leader). */
  MsgProp = 2,
  MsgApp = 3,
  MsgAppResp = 4,
  MsgVote = 5,
  MsgVoteResp = 6,
  MsgSnap = 7,
  MsgHeartbeat = 8,
  MsgHeartbeatResp = 9,
  /** Local: the transport could not reach `from`. */
  MsgUnreachable = 10,
  /** Local: outcome of sending a snapshot to `from`. */
  MsgSnapStatus = 11,
  /** Local: leader, verify that a quorum is still active. */
  MsgCheckQuorum = 12,
  MsgTransferLeader = 13,
  MsgTimeoutNow = 14,
  MsgReadIndex = 15,
  MsgReadIndexResp = 16,
  MsgPreVote = 17,
  MsgPreVoteResp = 18,
  /**
   * Driver to driver, never stepped into the core: "you were removed from
   * the cluster". A member answers messages from a removed ID with it, so
   * the removed node learns of its removal even if it missed the commit.
   */
  MsgRemoved = 19,
  /**
   * Leader (or any member) to the member that forwarded a proposal: it was
   * refused. `reject` is set, `context` holds `CODE\nreason` and `entries`
   * echo the proposal so the proposer's driver can settle its callers.
   * Handled by the driver, never stepped into the core.
   */
  MsgPropResp = 20,
}

/** Kinds of membership change. Pinned wire values. */
export enum ConfChangeType {
  /** Add a voter, or promote a learner to voter. */
  AddNode = 0,
  RemoveNode = 1,
  /** Add a non-voting member that receives the log. */
  AddLearnerNode = 2,
  /**
   * Change nothing in the configuration; carry new context for an existing
   * member (its new address, say) through the log to every member.
   */
  UpdateNode = 3,
}

/**
 * One membership change, carried by an {@link EntryType.ConfChange} entry.
 * Changes are made one at a time and take effect when the entry is
 * applied (see `RawNode.applyConfChange`).
 */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque bytes for the host, e.g. the new member's name and URLs. */
  readonly context?: Uint8Array;
}

/**
 * A Raft message. Fields not meaningful for a type are zero / empty.
 *
 * @remarks
 * The same fields carry different things per type (as in etcd-io/raft):
 * - MsgApp: `index`/`logTerm` are the entry preceding `entries`; `commit` the leader's commit.
 * - MsgAppResp: `index` is the follower's last matching index; on `reject`,
 *   `index` is the rejected MsgApp's index and `rejectHint`/`logTerm` point at
 *   where the leader should probe next.
 * - MsgVote/MsgPreVote: `index`/`logTerm` describe the candidate's last entry.
 * - MsgHeartbeat: `commit` is min(follower's match, leader's commit).
 * - MsgReadIndex / MsgReadIndexResp / heartbeats: `context` is the read request's ID.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: Term;
  logTerm: Term;
  index: Index;
  entries: Entry[];
  commit: Index;
  reject: boolean;
  rejectHint: Index;
  /** Opaque bytes: read-request IDs, or the campaign-transfer marker on votes. */
  context?: Uint8Array;
  snapshot?: Snapshot;
  /**
   * Set by the driver when it splits a MsgSnap into chunks for the wire:
   * `snapshot.data` then holds bytes `[offset, offset + data.length)` of a
   * snapshot of `totalBytes`. The receiving driver reassembles them; the
   * core never sees a chunk.
   */
  snapshotChunk?: SnapshotChunk;
}

/** Where a chunk of a split MsgSnap belongs. */
export interface SnapshotChunk {
  readonly offset: number;
  readonly totalBytes: number;
}

/** The state that must be durable before a node speaks (term, vote, commit). */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: Index;
}

/** The current membership as the core sees it. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** Metadata of a snapshot: the last index and term it covers, and the membership then. */
export interface SnapshotMetadata {
  readonly index: Index;
  readonly term: Term;
  readonly confState: ConfState;
}

/** A state-machine snapshot: opaque `data` plus the log position it replaces. */
export interface Snapshot {
  readonly data: Uint8Array;
  readonly metadata: SnapshotMetadata;
}

/** A node's role. */
export enum StateType {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

/** Volatile state worth telling the host about: who leads and our role. */
export interface SoftState {
  readonly lead: NodeId;
  readonly raftState: StateType;
}

/**
 * A linearizable read that may now be served: once the state machine has
 * applied `index`, reading it answers the request identified by `requestCtx`.
 */
export interface ReadState {
  readonly index: Index;
  readonly requestCtx: Uint8Array;
}

/**
 * Everything the core wants done, as one batch. Obtain with
 * `RawNode.ready()`, act on it, then call `RawNode.advance()`.
 *
 * @remarks
 * The host must act in this order:
 * 1. Persist `hardState`, `entries` and `snapshot` durably (fsync when
 *    `mustSync`). Entries replace any stored entries at the same or later
 *    indexes.
 * 2. Only then send `messages`: votes and append acknowledgements among them
 *    promise that the state above is on disk (Raft thesis §3.8).
 * 3. Apply `snapshot` (if any), then `committedEntries` in order, to the
 *    state machine.
 * 4. Serve `readStates`: each one's index is covered by what has been
 *    applied once step 3 is done.
 * 5. Call `advance()`.
 */
export interface Ready {
  /** Set when the leader or role changed since the last Ready. */
  readonly softState?: SoftState;
  /** Set when term, vote or commit changed since the last Ready. */
  readonly hardState?: HardState;
  /** Entries to append to stable storage. */
  readonly entries: readonly Entry[];
  /** A snapshot to persist and apply (received from the leader). */
  readonly snapshot?: Snapshot;
  /** Entries committed and not yet handed out for applying. */
  readonly committedEntries: readonly Entry[];
  /** Messages to send, after the durable write above. */
  readonly messages: readonly Message[];
  /** Linearizable reads that may be served after applying this Ready. */
  readonly readStates: readonly ReadState[];
  /** Whether the durable write must be synced (term, vote or entries changed). */
  readonly mustSync: boolean;
}

/** Replication state of one follower as the leader tracks it. */
export enum ProgressState {
  /** Unknown match: one MsgApp in flight at a time, backing off on rejects. */
  Probe = 0,
  /** Match known: MsgApps pipelined optimistically up to the inflight window. */
  Replicate = 1,
  /** A snapshot is on its way; appends are paused. */
  Snapshot = 2,
}

/** The empty hard state of a new node. */
export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });

/** Builds a message with every field set, so all messages share one shape. */
export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    type: fields.type,
    from: fields.from ?? NONE,
    to: fields.to ?? NONE,
    term: fields.term ?? 0,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? [],
    commit: fields.commit ?? 0,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    ...(fields.context !== undefined ? { context: fields.context } : {}),
    ...(fields.snapshot !== undefined ? { snapshot: fields.snapshot } : {}),
  };
}

/** Whether a message is generated inside a node and must never arrive from the network. */
export function isLocalMessage(t: MessageType): boolean {
  return (
    t === MessageType.MsgHup ||
    t === MessageType.MsgBeat ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgSnapStatus ||
    t === MessageType.MsgCheckQuorum ||
    isDriverMessage(t)
  );
}

/** Whether a message is between drivers (sent by the core or a driver, handled by the receiving driver, never stepped). */
export function isDriverMessage(t: MessageType): boolean {
  return t === MessageType.MsgRemoved || t === MessageType.MsgPropResp;
}

/** Whether a message answers a request (and so needs a known peer). */
export function isResponseMessage(t: MessageType): boolean {
  return (
    t === MessageType.MsgAppResp ||
    t === MessageType.MsgVoteResp ||
    t === MessageType.MsgHeartbeatResp ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgPreVoteResp
  );
}

/** The response type for a vote request type. */
export function voteRespType(t: MessageType): MessageType {
  return t === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp;
}

/** Bytes an entry counts for in size limits: payload plus a fixed header estimate. */
export function entrySize(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Per-entry overhead counted by size limits (term, index, type, framing). */
export const ENTRY_OVERHEAD_BYTES = 16;

/** Whether two snapshots/hard states are equal by value. */
export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
