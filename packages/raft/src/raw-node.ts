import type { RaftConfig } from './config.js';
import { InvariantError, RaftError, assert } from './errors.js';
import { Raft } from './raft.js';
import { describeState } from './describe.js';
import { encodeConfChange } from './confchange/codec.js';
import {
  EntryType,
  MessageType,
  NONE,
  ProgressState,
  StateType,
  hardStateEqual,
  isDriverMessage,
  isLocalMessage,
  isResponseMessage,
  message,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Index,
  type Message,
  type NodeId,
  type ReadState,
  type Ready,
  type SoftState,
  type Term,
} from './types.js';

/** The leader's view of one member's replication, as reported by {@link RawNode.status}. */
export interface ProgressStatus {
  readonly match: Index;
  readonly next: Index;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
  readonly inflight: number;
}

/** A snapshot of a node's Raft state. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: Index;
  readonly applied: Index;
  readonly lastIndex: Index;
  readonly lead: NodeId;
  readonly raftState: StateType;
  readonly leadTransferee: NodeId;
  /** Leader only: every member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}

/** What a Ready handed out, remembered until `advance()`. */
interface Handed {
  readonly hardState?: HardState;
  readonly softState?: SoftState;
  readonly lastEntry?: { index: Index; term: Term };
  readonly lastCommitted?: Index;
  readonly snapshotIndex?: Index;
}

const NO_ENTRIES: readonly Entry[] = Object.freeze([]);

/**
 * A Raft node without I/O: the host feeds it ticks, messages and proposals,
 * and acts on the {@link Ready} batches it hands back.
 *
 * @remarks
 * Deterministic: the same inputs (and the same injected random source)
 * always give the same outputs, which is what makes simulation tests
 * possible. Not safe for concurrent use (nothing in JavaScript is, but note
 * that `ready()` and `advance()` must alternate).
 *
 * @example
 * ```ts
 * const storage = new MemoryStorage({ voters: ['1', '2', '3'], learners: [] });
 * const node = new RawNode({ id: '1', storage });
 * node.tick();                         // from a timer
 * node.step(incoming);                 // from the transport
 * if (node.hasReady()) {
 *   const rd = node.ready();
 *   storage.append(rd.entries);        // 1. persist
 *   send(rd.messages);                 // 2. send
 *   for (const e of rd.committedEntries) apply(e); // 3. apply
 *   node.advance();                    // 4. acknowledge
 * }
 * ```
 */
export class RawNode {
  /** @internal */
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private handed: Handed | undefined;

  /** @throws RaftError `RAFT_INVALID_CONFIG` when the config is invalid. */
  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  /** This node's ID. */
  get id(): NodeId {
    return this.raft.id;
  }

  /** Advances logical time by one tick (call it every heartbeat interval). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (a pre-election first, when pre-vote is on). */
  campaign(): void {
    this.raft.step(message({ type: MessageType.MsgHup, from: this.raft.id }));
  }

  /**
   * Proposes `data` for the log. On the leader it is appended at once; a
   * follower forwards it to the leader. Being appended is not being
   * committed: the host learns the outcome when the entry comes back in
   * `committedEntries` (or sees it replaced by a new leader's entry).
   *
   * @throws RaftError `RAFT_NO_LEADER` when no leader is known,
   * `RAFT_NOT_LEADER` when this follower may not forward (forwarding
   * disabled) or this leader is no longer a member,
   * `RAFT_TRANSFER_IN_PROGRESS` during a leadership transfer.
   */
  propose(data: Uint8Array): void {
    this.raft.step(
      message({ type: MessageType.MsgProp, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }),
    );
  }

  /**
   * Proposes several entries at once (one message, one append): the fast
   * path for a host batching its callers.
   *
   * @throws RaftError as {@link RawNode.propose}.
   */
  proposeBatch(datas: readonly Uint8Array[]): void {
    if (datas.length === 0) return;
    const entries: Entry[] = datas.map((data) => ({ term: 0, index: 0, type: EntryType.Normal, data }));
    this.raft.step(message({ type: MessageType.MsgProp, from: this.raft.id, entries }));
  }

  /**
   * Asks for a linearizable read. `ctx` identifies the request (make it
   * unique). Once the leader confirms it still leads, a {@link ReadState}
   * with this `ctx` comes out of a later Ready, no earlier than the Ready
   * whose applied entries reach its index.
   *
   * @throws RaftError `RAFT_NO_LEADER` when there is no leader to ask.
   */
  readIndex(ctx: Uint8Array): void {
    this.raft.step(message({ type: MessageType.MsgReadIndex, from: this.raft.id, context: ctx }));
  }

  /**
   * Proposes a membership change. It takes effect on each member when the
   * host applies the committed entry and calls {@link RawNode.applyConfChange}.
   *
   * @remarks
   * Changes go one at a time: a new one is refused until the previous one
   * is applied.
   *
   * @throws RaftError as {@link RawNode.propose}, and on the leader
   * `RAFT_CONF_CHANGE_PENDING` while a change is pending or
   * `RAFT_CONF_CHANGE_INVALID` for a change that cannot apply (adding a
   * voter twice, removing a non-member or the last voter, demoting a voter).
   */
  proposeConfChange(cc: ConfChange): void {
    const data = encodeConfChange(cc);
    this.raft.step(
      message({ type: MessageType.MsgProp, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data }] }),
    );
  }

  /**
   * Applies a committed membership change; the host calls it when it
   * applies an {@link EntryType.ConfChange} entry (decode its data with
   * `decodeConfChange`). Returns the configuration now in force, which the
   * host records with its next snapshot. A change that cannot apply is a
   * no-op on every member alike.
   *
   * @remarks
   * A leader that applies its own removal steps down.
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** The membership in force now. */
  confState(): ConfState {
    return this.raft.trk.confState();
  }

  /**
   * Asks the leader to hand leadership to `transferee`. Progress shows in
   * `status().leadTransferee` and in the next SoftState.
   */
  transferLeader(transferee: NodeId): void {
    this.raft.step(message({ type: MessageType.MsgTransferLeader, from: transferee }));
  }

  /**
   * A follower forgets its leader (stays a follower in the same term, does
   * not campaign). With check-quorum, followers refuse (pre-)votes while they
   * believe a leader is alive; a follower that knows the leader is gone (its
   * connection closed) calls this so it can grant them at once, and a new
   * leader is elected without waiting out the election timeout. Safe: it
   * only gives up the lease; no-op on a leader or candidate.
   */
  forgetLeader(): void {
    const r = this.raft;
    if (r.state !== StateType.Follower || r.lead === NONE) return;
    r.logger.info(`${r.id} forgot leader ${r.lead} at term ${r.term}`);
    r.lead = NONE;
  }

  /** Tells the leader that `id` could not be reached, so its pipeline restarts. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(message({ type: MessageType.MsgUnreachable, from: id }));
  }

  /** Tells the leader how sending a snapshot to `id` went. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(message({ type: MessageType.MsgSnapStatus, from: id, reject: !ok }));
  }

  /**
   * Feeds a message received from a peer.
   *
   * @throws RaftError `RAFT_STEP_LOCAL_MESSAGE` for a local-only message
   * type, `RAFT_STEP_PEER_NOT_FOUND` for a response from a non-member,
   * `RAFT_INVALID_MESSAGE` for a malformed message, or one no honest peer
   * sends (term 0 on anything but a forwarded MsgProp or MsgReadIndex, an
   * empty MsgProp, a heartbeat committing past this log, an acknowledgement
   * past it). Nothing changes then.
   */
  step(m: Message): void {
    if (isLocalMessage(m.type)) {
      throw new RaftError(
        'RAFT_STEP_LOCAL_MESSAGE',
        isDriverMessage(m.type)
          ? `${MessageType[m.type]} is for the driver, not the core`
          : `cannot step raft local message ${MessageType[m.type]}`,
      );
    }
    validateMessage(m);
    // Values no honest peer sends, which the core would trust into a broken
    // invariant (and the driver would stop the node for): refuse them whole,
    // before the term handling below changes anything.
    const last = this.raft.log.lastIndex();
    if (m.type === MessageType.MsgHeartbeat && m.term >= this.raft.term && m.commit > last) {
      // A leader sends min(match, committed), never past what we hold.
      invalid(m, `commit ${m.commit} is past this node's last index ${last}`);
    }
    if (m.type === MessageType.MsgAppResp && m.term === this.raft.term && !m.reject && m.index > last) {
      // A leader's log only grows within its term: an acknowledgement is of entries it sent.
      invalid(m, `acknowledges index ${m.index}, past this node's last index ${last}`);
    }
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from)) {
      throw new RaftError('RAFT_STEP_PEER_NOT_FOUND', `cannot step a ${MessageType[m.type]} from unknown peer ${m.from}`);
    }
    this.raft.step(m);
  }

  /** Whether a call to `ready()` would hand out anything. */
  hasReady(): boolean {
    const r = this.raft;
    r.flushAppends();
    if (r.msgs.length > 0) return true;
    if (r.log.unstableEntries().length > 0 || r.log.unstable.snapshot !== undefined) return true;
    if (r.log.hasNextCommittedEnts()) return true;
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) return true;
    if (!hardStateEqual(r.hardState(), this.prevHardState)) return true;
    if (r.readStates.length > 0 && r.readStates[0].index <= r.log.applied) return true;
    return false;
  }

  /**
   * Hands out everything to do now. Follow the order in {@link Ready}'s
   * docs, then call {@link RawNode.advance}.
   *
   * @throws InvariantError if the previous Ready was not advanced.
   */
  ready(): Ready {
    assert(this.handed === undefined, () => 'ready() called again before advance()');
    const r = this.raft;
    r.flushAppends();
    const unstable = r.log.unstableEntries();
    const entries = unstable.length > 0 ? unstable.slice() : NO_ENTRIES;
    const committedEntries = r.log.nextCommittedEnts();
    const snapshot = r.log.unstable.snapshot;

    const ss = r.softState();
    const softChanged = ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState;
    const hs = r.hardState();
    const hardChanged = !hardStateEqual(hs, this.prevHardState);

    // A read may be served once the state machine has applied its index;
    // after this Ready, applied reaches the last committed entry handed out.
    const appliedAfter = committedEntries.length > 0 ? committedEntries[committedEntries.length - 1].index : r.log.applied;
    let readStates: ReadState[] = [];
    if (r.readStates.length > 0) {
      let n = 0;
      while (n < r.readStates.length && r.readStates[n].index <= appliedAfter) n++;
      if (n > 0) {
        readStates = r.readStates.slice(0, n);
        r.readStates = r.readStates.slice(n);
      }
    }

    const messages = r.msgs;
    r.msgs = [];
    // A snapshot counts: the append response that acknowledges it promises
    // it is durable.
    const mustSync =
      entries.length > 0 ||
      snapshot !== undefined ||
      hs.term !== this.prevHardState.term ||
      hs.vote !== this.prevHardState.vote;

    const last = entries.length > 0 ? entries[entries.length - 1] : undefined;
    this.handed = {
      ...(hardChanged ? { hardState: hs } : {}),
      ...(softChanged ? { softState: ss } : {}),
      ...(last ? { lastEntry: { index: last.index, term: last.term } } : {}),
      ...(committedEntries.length > 0 ? { lastCommitted: committedEntries[committedEntries.length - 1].index } : {}),
      ...(snapshot ? { snapshotIndex: snapshot.metadata.index } : {}),
    };
    return {
      ...(softChanged ? { softState: ss } : {}),
      ...(hardChanged ? { hardState: hs } : {}),
      entries,
      ...(snapshot ? { snapshot } : {}),
      committedEntries,
      messages,
      readStates,
      mustSync,
    };
  }

  /**
   * Acknowledges the last Ready: its entries are durable, its messages sent
   * and its committed entries applied.
   */
  advance(): void {
    const h = this.handed;
    if (h === undefined) throw new InvariantError('advance() called without a ready()');
    this.handed = undefined;
    const r = this.raft;
    if (h.hardState) this.prevHardState = h.hardState;
    if (h.softState) this.prevSoftState = h.softState;
    if (h.snapshotIndex !== undefined) {
      r.log.stableSnapTo(h.snapshotIndex);
      // A restored snapshot counts as applied.
      if (r.log.applied < h.snapshotIndex) r.log.applied = h.snapshotIndex;
    }
    if (h.lastEntry) {
      r.log.stableTo(h.lastEntry.index, h.lastEntry.term);
      r.selfPersisted();
    }
    if (h.lastCommitted !== undefined) r.log.appliedTo(h.lastCommitted);
  }

  /** The node's Raft state now. Progress is filled in on the leader only. */
  status(): RaftStatus {
    const r = this.raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (r.state === StateType.Leader) {
      for (const [id, pr] of r.trk.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          inflight: pr.inflights.size,
        });
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      lead: r.lead,
      raftState: r.state,
      leadTransferee: r.leadTransferee,
      progress,
    };
  }

  /** A one-line description of the role, e.g. `StateLeader`. */
  roleName(): string {
    return describeState(this.raft.state);
  }
}

function invalid(m: Message, why: string): never {
  throw new RaftError('RAFT_INVALID_MESSAGE', `invalid ${MessageType[m.type] ?? `message type ${String(m.type)}`} from ${String(m.from)}: ${why}`);
}

function isIndex(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Checks the shape of a message from outside, so a malformed one is refused
 * before it can corrupt state.
 */
function validateMessage(m: Message): void {
  if (typeof m !== 'object' || m === null) throw new RaftError('RAFT_INVALID_MESSAGE', 'message is not an object');
  if (typeof m.type !== 'number' || MessageType[m.type] === undefined) invalid(m, 'unknown type');
  if (typeof m.from !== 'string' || m.from === NONE) invalid(m, 'from must be a non-empty string');
  if (typeof m.to !== 'string') invalid(m, 'to must be a string');
  if (!isIndex(m.term) || !isIndex(m.logTerm) || !isIndex(m.index) || !isIndex(m.commit) || !isIndex(m.rejectHint)) {
    invalid(m, 'term, logTerm, index, commit and rejectHint must be non-negative integers');
  }
  // The core reads term 0 as "local" and skips every term check: only the
  // messages a follower forwards to its leader (see Raft.send) travel so.
  const forwarded = m.type === MessageType.MsgProp || m.type === MessageType.MsgReadIndex;
  if (forwarded && m.term !== 0) invalid(m, `a forwarded ${MessageType[m.type]} carries term 0, not ${m.term}`);
  if (!forwarded && m.term === 0) invalid(m, 'term must be at least 1 (term 0 is for local messages)');
  if (m.type === MessageType.MsgProp && Array.isArray(m.entries) && m.entries.length === 0) invalid(m, 'a proposal needs at least one entry');
  if (typeof m.reject !== 'boolean') invalid(m, 'reject must be a boolean');
  if (!Array.isArray(m.entries)) invalid(m, 'entries must be an array');
  if (m.context !== undefined && !(m.context instanceof Uint8Array)) invalid(m, 'context must be bytes');
  let prev = m.index;
  for (const e of m.entries) {
    if (typeof e !== 'object' || e === null || !isIndex(e.term) || !isIndex(e.index)) invalid(m, 'malformed entry');
    if (!(e.data instanceof Uint8Array)) invalid(m, 'entry data must be bytes');
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) invalid(m, `unknown entry type ${String(e.type)}`);
    if (m.type === MessageType.MsgApp) {
      if (e.index !== prev + 1) invalid(m, `entries are not contiguous after index ${prev}`);
      if (e.term < m.logTerm || e.term > m.term) invalid(m, `entry ${e.index} has term ${e.term} outside [${m.logTerm}, ${m.term}]`);
      prev = e.index;
    }
  }
  if (m.type === MessageType.MsgSnap) validateSnapshot(m);
}

function isIdList(v: unknown): boolean {
  return Array.isArray(v) && v.every((id) => typeof id === 'string' && id !== NONE);
}

function validateSnapshot(m: Message): void {
  const s = m.snapshot as unknown;
  if (typeof s !== 'object' || s === null) invalid(m, 'MsgSnap needs a snapshot');
  const snap = s as { data?: unknown; metadata?: { index?: unknown; term?: unknown; confState?: { voters?: unknown; learners?: unknown } } };
  if (!(snap.data instanceof Uint8Array)) invalid(m, 'snapshot data must be bytes');
  const md = snap.metadata;
  if (typeof md !== 'object' || md === null) invalid(m, 'snapshot needs metadata');
  if (!isIndex(md.index) || !isIndex(md.term) || md.index === 0) invalid(m, 'snapshot index and term must be integers, index > 0');
  if ((md.term as number) > m.term) invalid(m, `snapshot term ${String(md.term)} is past the message term ${m.term}`);
  const cs = md.confState;
  if (typeof cs !== 'object' || cs === null || !isIdList(cs.voters) || !isIdList(cs.learners)) {
    invalid(m, 'snapshot confState needs voters and learners as lists of IDs');
  }
}
