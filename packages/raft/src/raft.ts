import { validateConfig, type RaftConfig } from './config.js';
import { RaftError, assert, type RaftErrorCode } from './errors.js';
import { changeConfig } from './confchange/changer.js';
import { RaftLog } from './log/raft-log.js';
import type { RaftLogger } from './logger.js';
import { VoteResult, voteResult } from './quorum/majority.js';
import type { RandomSource } from './random.js';
import { ReadOnly } from './read-only.js';
import { describeState } from './describe.js';
import { stepCandidate } from './step/candidate.js';
import { stepFollower } from './step/follower.js';
import { stepLeader } from './step/leader.js';
import { ProgressTracker } from './tracker/progress-tracker.js';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  NONE,
  ProgressState,
  StateType,
  entrySize,
  hardStateEqual,
  message,
  voteRespType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Index,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
  type Term,
} from './types.js';

/** Why an election is held: a normal timeout, a pre-election, or a leadership transfer. */
export enum CampaignType {
  PreElection = 'CampaignPreElection',
  Election = 'CampaignElection',
  Transfer = 'CampaignTransfer',
}

/** Marker carried in the context of votes of a leadership transfer: they bypass the leader lease. */
export const CAMPAIGN_TRANSFER_CONTEXT = new Uint8Array([0x54, 0x52, 0x41, 0x4e, 0x53, 0x46, 0x45, 0x52]); // "TRANSFER"

function isTransferContext(ctx: Uint8Array | undefined): boolean {
  if (!ctx || ctx.byteLength !== CAMPAIGN_TRANSFER_CONTEXT.byteLength) return false;
  for (let i = 0; i < ctx.byteLength; i++) if (ctx[i] !== CAMPAIGN_TRANSFER_CONTEXT[i]) return false;
  return true;
}

type StepFn = (r: Raft, m: Message) => void;

const utf8 = new TextEncoder();

/**
 * The Raft protocol for one node: term handling, role changes, ticks. The
 * per-role message handling lives in `step/`.
 *
 * @remarks
 * Deterministic: every output goes to `msgs` or the log, time is `tick()`,
 * and randomness comes from the injected source. Use it through
 * {@link RawNode}; the fields are public for the step functions and tests,
 * not for hosts.
 *
 * @internal
 */
export class Raft {
  readonly id: NodeId;
  term: Term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  state: StateType = StateType.Follower;
  readonly log: RaftLog;
  readonly trk: ProgressTracker;
  /** Outgoing messages, drained by RawNode.ready(). */
  msgs: Message[] = [];
  /** Read states waiting to be handed out once applied covers them. */
  readStates: ReadState[] = [];
  /**
   * Peers the leader should send appends to before the next Ready (lazy
   * batching), and whether the first one goes even without entries.
   */
  private readonly needAppend = new Map<NodeId, boolean>();

  /**
   * Ticks since the last election timeout reset (leaders: since the last
   * check-quorum round; followers: since hearing from the leader).
   */
  electionElapsed = 0;
  /** Leader only: ticks since the last heartbeat. */
  heartbeatElapsed = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  /** In `[electionTimeout, 2 × electionTimeout)`, redrawn on every reset. */
  randomizedElectionTimeout = 0;

  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly disableProposalForwarding: boolean;
  readonly maxMsgSize: number;
  readonly maxEntriesPerMsg: number;

  /** The member this leader is handing leadership to, or NONE. */
  leadTransferee: NodeId = NONE;
  /**
   * Leader only: a conf change may be proposed only once the log is applied
   * past this index (the one-change-at-a-time rule).
   */
  pendingConfIndex: Index = 0;
  readOnly = new ReadOnly();
  /** Leader only: reads that arrived before this term's first commit. */
  pendingReadIndexMessages: Message[] = [];

  readonly random: RandomSource;
  readonly logger: RaftLogger;
  private stepFn: StepFn = stepFollower;
  private tickFn: () => void = () => this.tickElection();

  constructor(config: RaftConfig) {
    const c = validateConfig(config);
    this.id = c.id;
    this.log = new RaftLog(c.storage, c.maxCommittedSizePerReadyBytes);
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes);
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.disableProposalForwarding = c.disableProposalForwarding;
    this.maxMsgSize = c.maxSizePerMsgBytes;
    this.maxEntriesPerMsg = c.maxEntriesPerMsg;
    this.random = c.random;
    this.logger = c.logger;

    const { hardState, confState } = c.storage.initialState();
    this.trk.applyConfState(confState, this.log.lastIndex());
    if (!hardStateEqual(hardState, { term: 0, vote: NONE, commit: 0 })) this.loadState(hardState);
    if (c.applied > 0) {
      if (c.applied > this.log.committed) {
        throw new RaftError(
          'RAFT_INVALID_CONFIG',
          `applied (${c.applied}) is past the stored commit index (${this.log.committed}); the state machine cannot be ahead of the log`,
        );
      }
      if (c.applied >= this.log.applied) this.log.appliedTo(c.applied);
    }
    this.becomeFollower(this.term, NONE);

    this.logger.info(
      `newRaft ${this.id} [peers: [${this.trk.voters.join(',')}], term: ${this.term}, commit: ${this.log.committed}, ` +
        `applied: ${this.log.applied}, lastindex: ${this.log.lastIndex()}, lastterm: ${this.log.lastTerm()}]`,
    );
  }

  private loadState(hs: HardState): void {
    if (hs.commit < this.log.committed || hs.commit > this.log.lastIndex()) {
      throw new RaftError(
        'RAFT_INVALID_CONFIG',
        `${this.id} state.commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
    }
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // ---------------------------------------------------------------- sending

  /** Queues a message, stamping `from` and (for most types) the current term. */
  send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    const t = m.type;
    if (t === MessageType.MsgVote || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp) {
      // Vote messages carry the term they are about, which is not always
      // ours (a pre-vote is for the next term).
      assert(m.term !== 0, () => `term should be set when sending ${MessageType[t]}`);
    } else {
      assert(m.term === 0, () => `term should not be set when sending ${MessageType[t]} (was ${m.term})`);
      // Proposals and read requests forwarded to the leader are handled as
      // local messages there, whatever its term.
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /**
   * Sends one MsgApp to `to` if its flow allows. Returns whether a message
   * was sent. An empty MsgApp (no entries) is sent only with `sendIfEmpty`,
   * to carry a new commit index.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: Term;
    let ents: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      ents = this.log.entries(pr.next, this.maxMsgSize, this.maxEntriesPerMsg);
    } catch (e) {
      if (e instanceof RaftError && (e.code === 'RAFT_COMPACTED' || e.code === 'RAFT_UNAVAILABLE')) {
        return this.maybeSendSnapshot(to);
      }
      throw e;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    const commit = this.log.committed;
    this.send(message({ type: MessageType.MsgApp, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit }));
    pr.sentEntries(ents.length, prevIndex + ents.length, bytes);
    pr.sentCommit = commit;
    return true;
  }

  /** Sends the current snapshot to a follower that needs compacted entries. */
  private maybeSendSnapshot(to: NodeId): boolean {
    const pr = this.trk.progress.get(to)!;
    if (!pr.recentActive) {
      this.logger.debug(`ignore sending snapshot to ${to} since it is not recently active`);
      return false;
    }
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (e) {
      if (e instanceof RaftError && e.code === 'RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE') {
        this.logger.debug(`${this.id} failed to send snapshot to ${to} because snapshot is temporarily unavailable`);
        return false;
      }
      throw e;
    }
    assert(snap.metadata.index !== 0, () => 'need non-empty snapshot');
    this.logger.debug(
      `${this.id} [firstindex: ${this.log.firstIndex()}, commit: ${this.log.committed}] sent snapshot[index: ${snap.metadata.index}, ` +
        `term: ${snap.metadata.term}] to ${to}`,
    );
    pr.becomeSnapshot(snap.metadata.index);
    this.send(message({ type: MessageType.MsgSnap, to, snapshot: snap }));
    return true;
  }

  /**
   * Asks for an append to `to`, built lazily at the next Ready. With
   * `sendIfEmpty`, one goes even when there are no new entries: it makes a
   * follower whose appends were lost reject, which restarts its flow.
   */
  requestAppend(to: NodeId, opts: { sendIfEmpty: boolean }): void {
    if (to === this.id) return;
    this.needAppend.set(to, opts.sendIfEmpty || this.needAppend.get(to) === true);
  }

  /** Asks for appends to every follower; built lazily at the next Ready. */
  bcastAppend(): void {
    for (const id of this.trk.progress.keys()) this.requestAppend(id, { sendIfEmpty: false });
  }

  /**
   * Builds the appends requested since the last Ready. Batching them here,
   * rather than on every proposal, turns many proposals into one MsgApp per
   * follower.
   */
  flushAppends(): void {
    if (this.needAppend.size === 0) return;
    if (this.state === StateType.Leader) {
      for (const [id, sendIfEmpty] of this.needAppend) {
        const pr = this.trk.progress.get(id);
        if (!pr) continue;
        // The first message goes even if empty when asked to, or to carry
        // a commit index the follower has not been told; the rest fill the
        // pipeline.
        this.maybeSendAppend(id, sendIfEmpty || pr.sentCommit < this.log.committed);
        while (this.maybeSendAppend(id, false)) {
          /* keep filling the inflight window */
        }
      }
    }
    this.needAppend.clear();
  }

  sendHeartbeat(to: NodeId, context: Uint8Array | undefined): void {
    const pr = this.trk.progress.get(to)!;
    // Never tell a follower to commit past what it is known to have: it
    // might not have those entries (or have different ones) yet.
    const commit = Math.min(pr.match, this.log.committed);
    this.send(message({ type: MessageType.MsgHeartbeat, to, commit, ...(context ? { context } : {}) }));
  }

  bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx());
  }

  bcastHeartbeatWithCtx(context: Uint8Array | undefined): void {
    for (const id of this.trk.progress.keys()) if (id !== this.id) this.sendHeartbeat(id, context);
  }

  sendTimeoutNow(to: NodeId): void {
    this.send(message({ type: MessageType.MsgTimeoutNow, to }));
  }

  // ---------------------------------------------------------------- log

  /** Leader: appends new entries at the end of the log in the current term. */
  appendEntry(es: readonly { type: EntryType; data: Uint8Array }[]): void {
    const li = this.log.lastIndex();
    const ents: Entry[] = new Array(es.length);
    for (let i = 0; i < es.length; i++) ents[i] = { term: this.term, index: li + 1 + i, type: es[i].type, data: es[i].data };
    this.log.append(ents);
    // The leader's own copy counts toward the quorum only once it is
    // durable (selfPersisted, from RawNode.advance), not here: that lets a
    // driver send these entries to followers while its own write is still
    // in flight (Raft thesis §10.2.1) without ever committing an entry that
    // a quorum does not hold on disk.
  }

  /**
   * The driver persisted a Ready: on a leader, its own copy of what is now
   * durable counts toward the quorum, which may commit.
   */
  selfPersisted(): void {
    if (this.state !== StateType.Leader) return;
    const self = this.trk.progress.get(this.id);
    if (self === undefined || !self.maybeUpdate(this.durableLastIndex())) return;
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    }
  }

  /** The last index held in stable storage (entries past it are not persisted yet). */
  durableLastIndex(): Index {
    return this.log.unstable.entries.length > 0 ? this.log.unstable.offset - 1 : this.log.lastIndex();
  }

  /** Advances the commit index to what a quorum has, if that is a current-term entry. */
  maybeCommit(): boolean {
    return this.log.maybeCommit(this.trk.committed(), this.term);
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  // ---------------------------------------------------------------- roles

  private reset(term: Term): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      const fresh = this.trk.newProgress(0, last + 1, pr.isLearner);
      // Our own match is what is durable: unstable entries count once persisted.
      if (id === this.id) fresh.match = this.durableLastIndex();
      this.trk.progress.set(id, fresh);
    }
    this.needAppend.clear();
    this.pendingConfIndex = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: Term, lead: NodeId): void {
    this.stepFn = stepFollower;
    this.reset(term);
    this.tickFn = () => this.tickElection();
    this.lead = lead;
    this.state = StateType.Follower;
    this.logger.info(`${this.id} became follower at term ${this.term}`);
  }

  becomeCandidate(): void {
    assert(this.state !== StateType.Leader, () => 'invalid transition [leader -> candidate]');
    this.stepFn = stepCandidate;
    this.reset(this.term + 1);
    this.tickFn = () => this.tickElection();
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.logger.info(`${this.id} became candidate at term ${this.term}`);
  }

  becomePreCandidate(): void {
    assert(this.state !== StateType.Leader, () => 'invalid transition [leader -> pre-candidate]');
    // A pre-candidate changes neither term nor vote: nothing to persist,
    // and a failed pre-election leaves no trace.
    this.stepFn = stepCandidate;
    this.trk.resetVotes();
    this.tickFn = () => this.tickElection();
    this.lead = NONE;
    this.state = StateType.PreCandidate;
    this.logger.info(`${this.id} became pre-candidate at term ${this.term}`);
  }

  becomeLeader(): void {
    assert(this.state !== StateType.Follower, () => 'invalid transition [follower -> leader]');
    this.stepFn = stepLeader;
    this.reset(this.term);
    this.tickFn = () => this.tickHeartbeat();
    this.lead = this.id;
    this.state = StateType.Leader;
    const self = this.trk.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conservatively treat any entry we have as a possible conf change: no
    // new change until this term's first entry is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op entry commits everything from earlier terms (§5.4.2).
    this.appendEntry([{ type: EntryType.Normal, data: new Uint8Array(0) }]);
    this.bcastAppend();
    this.logger.info(`${this.id} became leader at term ${this.term}`);
  }

  /** Whether this node may campaign: it is a voter of the current configuration. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1);
    return ents.some((e) => e.type === EntryType.ConfChange);
  }

  hup(t: CampaignType): void {
    if (this.state === StateType.Leader) {
      this.logger.debug(`${this.id} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warn(`${this.id} is unpromotable and can not campaign`);
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warn(`${this.id} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`);
      return;
    }
    this.logger.info(`${this.id} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  campaign(t: CampaignType): void {
    let term: Term;
    let voteMsg: MessageType;
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    if (this.poll(this.id, voteRespType(voteMsg), true) === VoteResult.Won) {
      // A single-voter cluster wins at once.
      if (t === CampaignType.PreElection) this.campaign(CampaignType.Election);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.trk.voters) {
      if (id === this.id) continue;
      this.logger.info(
        `${this.id} [logterm: ${lastTerm}, index: ${lastIndex}] sent ${MessageType[voteMsg]} request to ${id} at term ${this.term}`,
      );
      const context = t === CampaignType.Transfer ? CAMPAIGN_TRANSFER_CONTEXT : undefined;
      this.send(message({ type: voteMsg, to: id, term, index: lastIndex, logTerm: lastTerm, ...(context ? { context } : {}) }));
    }
  }

  /** Records a vote (or rejection) and returns the election's state. */
  poll(id: NodeId, t: MessageType, granted: boolean): VoteResult {
    if (granted) this.logger.info(`${this.id} received ${MessageType[t]} from ${id} at term ${this.term}`);
    else this.logger.info(`${this.id} received ${MessageType[t]} rejection from ${id} at term ${this.term}`);
    this.trk.recordVote(id, granted);
    const { granted: g, rejected, result } = this.trk.tallyVotes();
    if (id !== this.id) {
      this.logger.info(`${this.id} has received ${g} ${MessageType[t]} votes and ${rejected} vote rejections`);
    }
    return result;
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    this.tickFn();
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.random.intn(this.electionTimeout);
  }

  /** Followers and candidates: campaign after a randomized election timeout. */
  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(message({ type: MessageType.MsgHup, from: this.id }));
    }
  }

  /** Leaders: heartbeat every heartbeat timeout; check the quorum every election timeout. */
  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(message({ type: MessageType.MsgCheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: MessageType.MsgBeat, from: this.id }));
    }
  }

  abortLeaderTransfer(): void {
    if (this.leadTransferee !== NONE) this.logger.info(`${this.id} abort leadership transfer to ${this.leadTransferee}`);
    this.leadTransferee = NONE;
  }

  // ---------------------------------------------------------------- step

  /**
   * Handles one message. Term rules are settled here for every role; the
   * rest is the role's step function.
   */
  step(m: Message): void {
    if (m.term === 0) {
      // A local message (or a forwarded proposal / read request).
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = isTransferContext(m.context);
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // We heard from a live leader within the minimum election
          // timeout: this candidate is disruptive (thesis §4.2.3). Ignore
          // it without raising our term.
          this.logger.info(
            `${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote || 0}] ignored ` +
              `${MessageType[m.type]} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: ` +
              `lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`,
          );
          return;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // A pre-vote request never changes our term.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term; ours rises only when
        // the real election starts.
      } else {
        this.logger.info(
          `${this.id} [term: ${this.term}] received a ${MessageType[m.type]} message with higher term from ${m.from} [term: ${m.term}]`,
        );
        const fromLeader =
          m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap;
        // A vote we are about to refuse (the candidate's log is behind ours)
        // raises our term but must not restart our election timer: the
        // paper resets it only on hearing from a leader or granting a vote.
        // Restarting it lets candidates with stale logs keep the one member
        // that could win from ever timing out (etcd-io/raft#167).
        const refusing = m.type === MessageType.MsgVote && !this.log.isUpToDate(m.index, m.logTerm);
        const elapsed = this.electionElapsed;
        const timeout = this.randomizedElectionTimeout;
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
        if (refusing) {
          this.electionElapsed = elapsed;
          this.randomizedElectionTimeout = timeout;
        }
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)) {
        // A leader from an older term (e.g. cut off and healed) keeps
        // sending; tell it our term so it steps down. Without this, with
        // check-quorum or pre-vote on, we would ignore it forever and it
        // would never learn it is stale.
        this.send(message({ type: MessageType.MsgAppResp, to: m.from }));
      } else if (m.type === MessageType.MsgPreVote) {
        // Tell a stale pre-candidate our term so it can catch up, else it
        // would keep pre-voting at a term nobody grants.
        this.logger.info(
          `${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote || 0}] rejected ` +
            `${MessageType[m.type]} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
        );
        this.send(message({ type: MessageType.MsgPreVoteResp, to: m.from, term: this.term, reject: true }));
      } else {
        this.logger.info(
          `${this.id} [term: ${this.term}] ignored a ${MessageType[m.type]} message with lower term from ${m.from} [term: ${m.term}]`,
        );
      }
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? CampaignType.PreElection : CampaignType.Election);
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.handleVoteRequest(m);
        return;
      default:
        this.stepFn(this, m);
    }
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    const desc =
      `${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote || 0}]`;
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      this.logger.info(
        `${desc} cast ${MessageType[m.type]} for ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      // The grant carries the candidate's term, not ours: for a pre-vote
      // ours is lower and the candidate would ignore the response.
      this.send(message({ type: voteRespType(m.type), to: m.from, term: m.term }));
      if (m.type === MessageType.MsgVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.logger.info(
        `${desc} rejected ${MessageType[m.type]} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      this.send(message({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true }));
    }
  }

  // ---------------------------------------------------------------- followers

  handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      // Everything up to our commit is settled; tell the leader where we are.
      this.send(message({ type: MessageType.MsgAppResp, to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(message({ type: MessageType.MsgAppResp, to: m.from, index: lastNew }));
      return;
    }
    // Fast backtracking: rather than step back one entry per round trip,
    // point the leader at the last entry of ours that could match — the
    // largest index ≤ min(m.index, our last) whose term ≤ m.logTerm.
    const hintIndex = Math.min(m.index, this.log.lastIndex());
    const hint = this.log.findConflictByTerm(hintIndex, m.logTerm);
    this.logger.debug(
      `${this.id} [logterm: ${this.log.termOrZero(m.index)}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from}`,
    );
    this.send(
      message({
        type: MessageType.MsgAppResp,
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send(message({ type: MessageType.MsgHeartbeatResp, to: m.from, ...(m.context ? { context: m.context } : {}) }));
  }

  handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) throw new RaftError('RAFT_INVALID_MESSAGE', `MsgSnap from ${m.from} carries no snapshot`);
    const { index, term } = s.metadata;
    if (this.restore(s)) {
      this.logger.info(`${this.id} [commit: ${this.log.committed}] restored snapshot [index: ${index}, term: ${term}]`);
      this.send(message({ type: MessageType.MsgAppResp, to: m.from, index: this.log.lastIndex() }));
    } else {
      this.logger.info(`${this.id} [commit: ${this.log.committed}] ignored snapshot [index: ${index}, term: ${term}]`);
      this.send(message({ type: MessageType.MsgAppResp, to: m.from, index: this.log.committed }));
    }
  }

  /** Installs a snapshot if it is newer than what we have committed. */
  private restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.log.committed) return false;
    if (this.state !== StateType.Follower) {
      // Only a follower may restore; anything else is a bug upstream.
      this.logger.warn(`${this.id} attempted to restore snapshot as ${describeState(this.state)}; should never happen`);
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already have the entries: just fast-forward the commit.
      this.log.commitTo(s.metadata.index);
      return false;
    }
    this.log.restore(s);
    this.trk.applyConfState(s.metadata.confState, this.log.lastIndex());
    return true;
  }

  /** Leader: answers a confirmed read, locally or to the follower that asked. */
  responseToReadIndexReq(req: Message, readIndex: Index): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: req.context ?? new Uint8Array(0) });
      return;
    }
    this.send(message({ type: MessageType.MsgReadIndexResp, to: req.from, index: readIndex, ...(req.context ? { context: req.context } : {}) }));
  }

  /** Leader: starts confirming leadership for a read at the current commit. */
  sendMsgReadIndexResponse(m: Message): void {
    this.readOnly.addRequest(this.log.committed, m);
    this.readOnly.recvAck(this.id, m.context);
    this.bcastHeartbeatWithCtx(m.context);
  }

  releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    if (!this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendMsgReadIndexResponse(m);
  }

  /** Whether `acks` include a quorum of voters. */
  hasQuorum(acks: ReadonlySet<NodeId>): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const id of acks) votes.set(id, true);
    return voteResult(this.trk.voters, votes) === VoteResult.Won;
  }

  /**
   * Drops a proposal. A local caller learns why through the exception; a
   * forwarded one is only logged (the forwarding node's caller times out).
   */
  dropProposal(m: Message, code: RaftErrorCode, reason: string): void {
    this.logger.info(`${this.id} dropped proposal: ${reason}`);
    if (m.from === NONE || m.from === this.id) throw new RaftError(code, `proposal dropped: ${reason}`);
    // A forwarded proposal: tell the member that forwarded it, so its caller
    // gets the reason now instead of a timeout later.
    this.send(
      message({ type: MessageType.MsgPropResp, to: m.from, reject: true, entries: m.entries, context: utf8.encode(`${code}\n${reason}`) }),
    );
  }

  /** Drops a read request; a local caller learns why through the exception. */
  dropRead(m: Message, code: RaftErrorCode, reason: string): void {
    this.logger.info(`${this.id} dropped read index request: ${reason}`);
    if (m.from === NONE || m.from === this.id) throw new RaftError(code, `read index request dropped: ${reason}`);
  }

  /**
   * Applies a committed membership change (see {@link changeConfig}) and
   * returns the configuration now in force. A refused change leaves the
   * configuration as it was, on every member alike.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const res = changeConfig(this.trk.confState(), cc);
    if ('refused' in res) {
      this.logger.warn(`${this.id} ignored conf change ${ConfChangeType[cc.type]} ${cc.nodeId}: ${res.refused}`);
      return this.trk.confState();
    }
    const cs = res.confState;
    this.logger.info(`${this.id} switched to configuration voters=(${cs.voters.join(' ')}) learners=(${cs.learners.join(' ')})`);
    this.trk.setConfig(cs, this.log.lastIndex());
    if (this.state !== StateType.Leader) return cs;

    const self = this.trk.progress.get(this.id);
    if (!self || self.isLearner) {
      // The leader applied its own removal: it has committed the change (so
      // the new configuration has it), and steps aside for a member of it.
      this.logger.info(`${this.id} stepped down: removed from the configuration at term ${this.term}`);
      this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.leadTransferee !== NONE && !this.trk.progress.has(this.leadTransferee)) this.abortLeaderTransfer();
    // A smaller quorum may commit more now; new members need the log.
    if (this.maybeCommit()) this.releasePendingReadIndexMessages();
    this.bcastAppend();
    return cs;
  }

  /** The replication state of a follower, for status and tests. */
  progressState(id: NodeId): ProgressState | undefined {
    return this.trk.progress.get(id)?.state;
  }
}
