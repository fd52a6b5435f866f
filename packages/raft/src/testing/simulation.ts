import { describeMessage } from '../describe.js';
import { RaftError } from '../errors.js';
import { seededRandom } from '../random.js';
import { ConfChangeType, MessageType, StateType, type ConfChange, type Message, type NodeId } from '../types.js';
import { ClusterInvariants, SafetyViolation } from './invariants.js';
import { RawCluster, type ClusterNode, type CrashPoint } from './raw-cluster.js';

/** Fault rates and shape of one simulation run. */
export interface SimulationOptions {
  readonly seed: number;
  /** Initial cluster size (voters). @defaultValue 3 */
  readonly nodes?: number;
  /** Rounds with faults active (one tick per node per round). @defaultValue 300 */
  readonly rounds?: number;
  /** Probability that a message is lost. @defaultValue 0.1 */
  readonly dropRate?: number;
  /** Probability that a message is delivered twice. @defaultValue 0.05 */
  readonly duplicateRate?: number;
  /** Most rounds a message may be delayed (delivery order is shuffled too). @defaultValue 3 */
  readonly maxDelayRounds?: number;
  /** Probability per round that the network is split anew. @defaultValue 0.03 */
  readonly partitionRate?: number;
  /** Probability per round that the current leader is cut off from everyone. @defaultValue 0.02 */
  readonly isolateLeaderRate?: number;
  /** Probability per round that partitions heal. @defaultValue 0.05 */
  readonly healRate?: number;
  /** Probability per round of a client proposal. @defaultValue 0.5 */
  readonly proposeRate?: number;
  /** Probability per round of a linearizable read. @defaultValue 0.2 */
  readonly readRate?: number;
  /**
   * Probability per round that the leader is asked for a membership change
   * (add a voter or a learner, promote a learner, remove a learner or a
   * voter — the leader itself sometimes). @defaultValue 0.04
   */
  readonly confChangeRate?: number;
  /** Probability per round that the leader is asked to hand leadership to a random voter. @defaultValue 0.015 */
  readonly transferRate?: number;
  /** Probability per round that a node (often the leader) crashes, losing what it had not persisted. @defaultValue 0.015 */
  readonly crashRate?: number;
  /** Probability that a node that just granted a vote crashes and restarts at once. @defaultValue 0.1 */
  readonly crashAfterVoteRate?: number;
  /** Most rounds a crashed node stays down before it restarts from its storage. @defaultValue 8 */
  readonly maxDownRounds?: number;
  /** Probability per round that a random node snapshots and compacts its log. @defaultValue 0.03 */
  readonly compactRate?: number;
  /** Every node also snapshots every this many applied entries. @defaultValue per seed: 5, 20 or 60 */
  readonly snapshotEvery?: number;
  /** Membership changes keep at least this many voters. @defaultValue 3 */
  readonly minVoters?: number;
  /** Membership changes keep at most this many voters. @defaultValue 7 */
  readonly maxVoters?: number;
  /** Rounds a removed node that has not applied its removal is still driven. @defaultValue 20 */
  readonly removedGraceRounds?: number;
  /** Rounds allowed, after healing, for the cluster to commit a new entry everywhere. @defaultValue 300 */
  readonly livenessRounds?: number;
  /** Keep this many transcript lines for a failure report. @defaultValue 150 */
  readonly transcriptLines?: number;
}

/** What a passing run did. */
export interface SimulationResult {
  readonly seed: number;
  readonly nodes: number;
  readonly messagesDelivered: number;
  readonly messagesDropped: number;
  readonly proposals: number;
  readonly proposalsRejected: number;
  readonly committed: number;
  readonly readsChecked: number;
  readonly leaderTerms: number;
  readonly partitions: number;
  /** Membership changes asked of a leader / accepted by it / committed (applied somewhere). */
  readonly confChangesProposed: number;
  readonly confChangesAccepted: number;
  readonly confChangesCommitted: number;
  /** A second change proposed right after an accepted one, refused as pending. */
  readonly confChangesRefusedPending: number;
  readonly nodesAdded: number;
  /** Removed nodes no longer driven, and how many of them had applied their own removal. */
  readonly nodesRemoved: number;
  readonly removedLearned: number;
  /** Times the removal of the leader itself was accepted. */
  readonly leaderRemovals: number;
  readonly transfers: number;
  /** Transfers after which the transferee led the next term. */
  readonly transfersCompleted: number;
  /** Snapshots taken (compactions) and installed on followers from a leader. */
  readonly snapshotsTaken: number;
  readonly snapshotsInstalled: number;
  readonly snapshotReports: number;
  readonly crashes: number;
  /** Entries a crashed leader took and lost before persisting them. */
  readonly entriesLost: number;
  /** Voters and learners of the final configuration. */
  readonly finalVoters: number;
  readonly finalLearners: number;
  /** Rounds it took, after healing, to commit a new entry on every member. */
  readonly recoveryRounds: number;
}

const DEFAULTS = {
  nodes: 3,
  rounds: 300,
  dropRate: 0.1,
  duplicateRate: 0.05,
  maxDelayRounds: 3,
  partitionRate: 0.03,
  isolateLeaderRate: 0.02,
  healRate: 0.05,
  proposeRate: 0.5,
  readRate: 0.2,
  confChangeRate: 0.04,
  transferRate: 0.015,
  crashRate: 0.015,
  crashAfterVoteRate: 0.1,
  maxDownRounds: 8,
  compactRate: 0.03,
  minVoters: 3,
  maxVoters: 7,
  removedGraceRounds: 20,
  livenessRounds: 300,
  transcriptLines: 150,
};

/** The command that replays one run, with its options other than the defaults. */
function replayCommand(options: SimulationOptions): string {
  const { seed, nodes, ...rest } = options;
  const extra = Object.entries(rest).filter(([k, v]) => v !== undefined && (DEFAULTS as Record<string, unknown>)[k] !== v);
  const opts = extra.length > 0 ? ` KV_SIM_OPTS='${JSON.stringify(Object.fromEntries(extra))}'` : '';
  return `KV_SIM_SEED=${seed} KV_SIM_NODES=${nodes ?? DEFAULTS.nodes}${opts} node scripts/run-tests.mjs simulation`;
}

/** A simulation run that broke a safety or liveness property. */
export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
  constructor(
    readonly seed: number,
    readonly nodes: number,
    cause: unknown,
    readonly transcript: readonly string[],
    options?: SimulationOptions,
  ) {
    super(
      `simulation seed=${seed} nodes=${nodes} failed: ${cause instanceof Error ? cause.message : String(cause)}\n` +
        `replay: ${replayCommand(options ?? { seed, nodes })}\n` +
        `last ${transcript.length} events:\n${transcript.join('\n')}`,
      { cause },
    );
  }
}

/** Whether `e` is a proposal or read the core refused (as opposed to a bug). */
function isRefusal(e: unknown): e is RaftError {
  return (
    e instanceof RaftError &&
    (e.code === 'RAFT_NO_LEADER' ||
      e.code === 'RAFT_NOT_LEADER' ||
      e.code === 'RAFT_TRANSFER_IN_PROGRESS' ||
      e.code === 'RAFT_CONF_CHANGE_PENDING' ||
      e.code === 'RAFT_CONF_CHANGE_INVALID')
  );
}

interface InFlight {
  readonly m: Message;
  readonly at: number;
  /** The sender's incarnation when it sent `m` (snapshot reports go to that one only). */
  readonly inc: number;
}

const CRASH_POINTS: readonly CrashPoint[] = ['idle', 'before-persist', 'sent-before-persist', 'after-persist'];
const encoder = new TextEncoder();

/**
 * Runs a cluster of RawNodes over a faulty in-memory network, driven by one
 * seed, checking every safety property after every step (see
 * {@link ClusterInvariants}), then heals everything and requires the
 * final configuration to elect a leader and commit a new entry on every
 * member.
 *
 * While faults are active, besides losing, duplicating, delaying and
 * reordering messages and partitioning nodes, the nemesis changes the
 * membership (brand-new nodes join as voters or learners, learners are
 * promoted, voters — the leader too — and learners are removed; 3 to 7
 * voters), transfers leadership, crashes nodes at any point of their Ready
 * cycle (they restart from their MemoryStorage, having lost what was not
 * persisted) and compacts logs, so lagging and new nodes get snapshots.
 *
 * @throws SimulationFailure with the seed, a replay command and the last
 * events, when a property breaks.
 */
export function runSimulation(options: SimulationOptions): SimulationResult {
  const o = { ...DEFAULTS, ...options };
  const rng = seededRandom(o.seed);
  const ids: NodeId[] = Array.from({ length: o.nodes }, (_, i) => String(i + 1));
  const invariants = new ClusterInvariants();
  // Vary flow control per seed, so small batches, a one-message window and
  // byte limits are exercised as often as the defaults.
  const pick = <T,>(xs: readonly T[]): T => xs[rng.intn(xs.length)];
  const config = {
    maxEntriesPerMsg: pick([1, 3, 4096]),
    maxInflightMsgs: pick([1, 4, 256]),
    maxSizePerMsgBytes: pick([64, 1024 * 1024]),
    checkQuorum: pick([true, true, false]),
    preVote: pick([true, true, false]),
  };
  const compaction = { every: o.snapshotEvery ?? pick([5, 20, 60]), keep: pick([0, 2, 5]) };
  const cluster = new RawCluster({ ids, seed: o.seed, observer: invariants, config, bootstrap: 'log', compaction });
  const transcript: string[] = [];
  const note = (line: string): void => {
    transcript.push(line);
    if (transcript.length > o.transcriptLines) transcript.shift();
  };
  note(`config ${JSON.stringify(config)} compaction ${JSON.stringify(compaction)}`);

  // group[id] = partition number; nodes talk only within a group.
  const group = new Map<NodeId, number>(ids.map((id) => [id, 0]));
  const groupOf = (id: NodeId): number => group.get(id) ?? 0;
  let inflight: InFlight[] = [];
  /** Snapshot sends lost on the way, to report to their sender. */
  let failedSnaps: { from: NodeId; to: NodeId; inc: number }[] = [];
  /** Crashed nodes and the round they restart at. */
  const downUntil = new Map<NodeId, number>();
  /** Removed nodes and the round their removal was first seen committed. */
  const removalSeen = new Map<NodeId, number>();
  let nextId = o.nodes;
  let clientSeq = 0;
  let round = 0;
  let faulty = true;
  let pendingTransfer: { to: NodeId; term: number } | undefined;
  const stats = {
    delivered: 0,
    dropped: 0,
    proposals: 0,
    rejected: 0,
    partitions: 0,
    reads: 0,
    ccProposed: 0,
    ccAccepted: 0,
    ccRefusedPending: 0,
    nodesAdded: 0,
    nodesRemoved: 0,
    removedLearned: 0,
    leaderRemovals: 0,
    transfers: 0,
    transfersCompleted: 0,
    snapshotReports: 0,
    crashes: 0,
    entriesLost: 0,
  };

  const send = (from: ClusterNode, msgs: readonly Message[]): void => {
    for (const m of msgs) {
      if (faulty && rng.next() < o.dropRate) {
        stats.dropped++;
        if (m.type === MessageType.MsgSnap) failedSnaps.push({ from: m.from, to: m.to, inc: from.incarnation });
        continue;
      }
      const copies = faulty && rng.next() < o.duplicateRate ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        const delay = faulty ? rng.intn(o.maxDelayRounds + 1) : 0;
        inflight.push({ m, at: round + delay, inc: from.incarnation });
      }
    }
  };
  const ready = (id: NodeId): void => {
    if (!cluster.isRunning(id)) return;
    send(cluster.get(id), cluster.processReady(id));
  };

  /** Tells the (same incarnation of the) sender how a snapshot send went. */
  const reportSnapshot = (from: NodeId, to: NodeId, ok: boolean, inc: number): void => {
    const s = cluster.nodes.get(from);
    if (!s || !cluster.isRunning(from) || s.incarnation !== inc) return;
    s.node.reportSnapshot(to, ok);
    stats.snapshotReports++;
    note(`report-snapshot ${from} to ${to} ${ok ? 'ok' : 'failed'}`);
    ready(from);
  };

  const deliverDue = (): void => {
    const failed = failedSnaps;
    failedSnaps = [];
    for (const f of failed) reportSnapshot(f.from, f.to, false, f.inc);
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of inflight) (f.at <= round ? due : later).push(f);
    inflight = later;
    // Shuffle: messages overtake each other.
    for (let i = due.length - 1; i > 0; i--) {
      const j = rng.intn(i + 1);
      [due[i], due[j]] = [due[j], due[i]];
    }
    for (const { m, inc } of due) {
      const snap = m.type === MessageType.MsgSnap;
      if (groupOf(m.from) !== groupOf(m.to) || !cluster.isRunning(m.to)) {
        stats.dropped++;
        if (snap) reportSnapshot(m.from, m.to, false, inc);
        continue;
      }
      note(describeMessage(m));
      try {
        cluster.get(m.to).node.step(m);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
        note(`  ${m.to} refused: ${e.message}`);
      }
      stats.delivered++;
      ready(m.to);
      if (snap) reportSnapshot(m.from, m.to, true, inc);
      // A crash right after granting a vote (persisted and sent): the
      // restarted node must remember it, or it could vote twice in a term.
      if (faulty && m.type === MessageType.MsgVote && rng.next() < o.crashAfterVoteRate) {
        const n = cluster.get(m.to);
        if (n.node.raft.vote === m.from && n.node.raft.term === m.term) {
          cluster.crash(m.to, 'idle');
          cluster.restart(m.to);
          stats.crashes++;
          note(`crash ${m.to} right after voting for ${m.from} at term ${m.term}; restarted`);
          ready(m.to);
        }
      }
    }
  };

  const describeConfChange = (cc: ConfChange): string => `${ConfChangeType[cc.type]} ${cc.nodeId}`;

  /** Proposes `cc` at leader `l`; creates the node it adds if accepted. Returns the refusal code, if refused. */
  const proposeConfChange = (l: ClusterNode, cc: ConfChange, adds: boolean): string | undefined => {
    stats.ccProposed++;
    try {
      l.node.proposeConfChange(cc);
    } catch (e) {
      if (!isRefusal(e)) throw e;
      note(`conf-change ${l.id} ${describeConfChange(cc)} -> ${e.code}`);
      return e.code;
    }
    invariants.confChangeAccepted(l.id, l);
    stats.ccAccepted++;
    if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === l.id) stats.leaderRemovals++;
    if (adds) {
      cluster.addNode(cc.nodeId);
      group.set(cc.nodeId, groupOf(l.id));
      stats.nodesAdded++;
    }
    note(`conf-change ${l.id} ${describeConfChange(cc)} at ${l.node.raft.log.lastIndex()}`);
    return undefined;
  };

  const membership = (): void => {
    const l = cluster.leader();
    if (!l) return;
    const cs = l.node.confState();
    const voters = cs.voters;
    const learners = cs.learners;
    const r = rng.next();
    let cc: ConfChange | undefined;
    // IDs are never reused: a refused addition burns its ID too.
    if (r < 0.3 && voters.length < o.maxVoters) {
      cc = { type: ConfChangeType.AddNode, nodeId: String(++nextId) };
    } else if (r < 0.45 && voters.length + learners.length < o.maxVoters + 2) {
      cc = { type: ConfChangeType.AddLearnerNode, nodeId: String(++nextId) };
    } else if (r < 0.6 && learners.length > 0 && voters.length < o.maxVoters) {
      cc = { type: ConfChangeType.AddNode, nodeId: pick(learners) };
    } else if (r < 0.7 && learners.length > 0) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: pick(learners) };
    } else if (voters.length > o.minVoters) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: rng.next() < 0.3 ? l.id : pick(voters) };
    }
    if (!cc) return;
    const adds = cc.nodeId === String(nextId) && !cluster.nodes.has(cc.nodeId);
    const refused = proposeConfChange(l, cc, adds);
    if (refused === undefined && rng.next() < 0.3) {
      // A second change at once must be refused: one at a time.
      const code = proposeConfChange(l, { type: ConfChangeType.AddLearnerNode, nodeId: String(++nextId) }, true);
      if (code === 'RAFT_CONF_CHANGE_PENDING') stats.ccRefusedPending++;
    }
    ready(l.id);
  };

  const transfer = (): void => {
    const l = cluster.leader();
    if (!l) return;
    const others = l.node.confState().voters.filter((id) => id !== l.id);
    if (others.length === 0) return;
    const to = pick(others);
    l.node.transferLeader(to);
    stats.transfers++;
    pendingTransfer = { to, term: l.node.raft.term };
    note(`transfer-leader ${l.id} -> ${to}`);
    ready(l.id);
  };

  const crash = (): void => {
    const running = cluster.running();
    if (running.length === 0) return;
    const l = cluster.leader();
    const victim = l && rng.next() < 0.4 ? l : pick(running);
    const point = pick(CRASH_POINTS);
    const role = victim.node.roleName();
    let delivered: { from: NodeId; to: NodeId; inc: number } | undefined;
    if (point !== 'idle') {
      if (victim.node.raft.state === StateType.Leader) {
        // The leader takes a proposal and dies before writing it: the entry
        // must never show up anywhere (at before-persist).
        const data = encoder.encode(`lost${++clientSeq}`);
        try {
          victim.node.propose(data);
          note(`propose ${victim.id} lost${clientSeq} (crashing)`);
          if (point === 'before-persist') {
            invariants.lostInCrash(data);
            stats.entriesLost++;
          }
        } catch (e) {
          if (!isRefusal(e)) throw e;
        }
      } else {
        // Crash while handling a message: take one due for it and step it,
        // so there is something to lose.
        const k = inflight.findIndex((f) => f.m.to === victim.id && groupOf(f.m.from) === groupOf(victim.id));
        if (k >= 0) {
          const [{ m, inc }] = inflight.splice(k, 1);
          note(`${describeMessage(m)} (crashing)`);
          try {
            victim.node.step(m);
          } catch (e) {
            if (!(e instanceof RaftError)) throw e;
          }
          // It was delivered: the sender's transport reports success.
          if (m.type === MessageType.MsgSnap) delivered = { from: m.from, to: m.to, inc };
        }
      }
    }
    // A leader's driver may have sent its appends before its own write was lost.
    send(victim, cluster.crash(victim.id, point));
    if (delivered) reportSnapshot(delivered.from, delivered.to, true, delivered.inc);
    const down = rng.intn(o.maxDownRounds + 1);
    downUntil.set(victim.id, round + down);
    stats.crashes++;
    note(`crash ${victim.id} (${role}, ${point}), down ${down} rounds`);
  };

  const compactOne = (): void => {
    const running = cluster.running();
    if (running.length === 0) return;
    const n = pick(running);
    const snap = cluster.compact(n.id, rng.intn(4));
    if (snap) note(`compact ${n.id} snapshot at ${snap.metadata.index}, first index ${n.storage.firstIndex()}`);
  };

  const restartDue = (): void => {
    for (const [id, until] of downUntil) {
      if (faulty && until > round) continue;
      downUntil.delete(id);
      const n = cluster.get(id);
      if (n.stopped) continue;
      cluster.restart(id);
      note(`restart ${id} from snapshot ${n.storage.snapshot().metadata.index}, log ${n.storage.firstIndex()}..${n.storage.lastIndex()}`);
      ready(id);
    }
  };

  /** Stops driving removed nodes: once they applied their removal, or after a grace period. */
  const stopRemoved = (): void => {
    for (const id of cluster.removals.keys()) {
      const n = cluster.get(id);
      if (n.stopped) continue;
      const seen = removalSeen.get(id) ?? round;
      removalSeen.set(id, seen);
      if (n.removed || !faulty || round - seen >= o.removedGraceRounds) {
        cluster.stop(id);
        downUntil.delete(id);
        stats.nodesRemoved++;
        if (n.removed) stats.removedLearned++;
        note(`stop ${id} (${n.removed ? 'applied its removal' : 'its removal committed'})`);
      }
    }
  };

  const nemesis = (): void => {
    const all = [...cluster.nodes.values()].filter((n) => !n.stopped).map((n) => n.id);
    if (rng.next() < o.partitionRate) {
      // A random split into two sides (either may be a minority).
      for (const id of all) group.set(id, rng.intn(2));
      stats.partitions++;
      note(`partition ${[0, 1].map((g) => `(${all.filter((id) => groupOf(id) === g).join(',')})`).join(' ')}`);
    } else if (rng.next() < o.isolateLeaderRate) {
      // Cut the leader off right after it may have replicated to a minority:
      // the situations of the paper's figure 8.
      const l = cluster.leader();
      if (l) {
        for (const id of all) group.set(id, id === l.id ? 1 : 0);
        stats.partitions++;
        note(`isolate ${l.id}`);
      }
    } else if (rng.next() < o.healRate) {
      for (const id of all) group.set(id, 0);
      note('heal');
    }
    if (rng.next() < o.confChangeRate) membership();
    if (rng.next() < o.transferRate) transfer();
    if (rng.next() < o.crashRate) crash();
    if (rng.next() < o.compactRate) compactOne();
  };

  const client = (): void => {
    if (rng.next() < o.proposeRate) {
      const running = cluster.running();
      const n = running[rng.intn(running.length)];
      const data = encoder.encode(`p${++clientSeq}`);
      stats.proposals++;
      if (n) {
        try {
          n.node.propose(data);
          note(`propose ${n.id} p${clientSeq}`);
        } catch (e) {
          if (!isRefusal(e)) throw e;
          stats.rejected++;
          note(`propose ${n.id} p${clientSeq} -> ${e.code}`);
        }
        ready(n.id);
      }
    }
    if (rng.next() < o.readRate) {
      const running = cluster.running();
      const n = running[rng.intn(running.length)];
      const ctx = `r${++clientSeq}`;
      if (n) {
        try {
          n.node.readIndex(encoder.encode(ctx));
          invariants.readRequested(ctx);
          stats.reads++;
          note(`read-index ${n.id} ${ctx}`);
        } catch (e) {
          if (!isRefusal(e)) throw e;
          note(`read-index ${n.id} ${ctx} -> ${e.code}`);
        }
        ready(n.id);
      }
    }
  };

  const watchTransfer = (): void => {
    if (!pendingTransfer) return;
    const l = cluster.leader();
    if (!l || l.node.raft.term <= pendingTransfer.term) return;
    if (l.id === pendingTransfer.to && l.node.raft.term === pendingTransfer.term + 1) {
      stats.transfersCompleted++;
      note(`transfer to ${l.id} done at term ${l.node.raft.term}`);
    }
    pendingTransfer = undefined;
  };

  const oneRound = (): void => {
    round++;
    restartDue();
    if (faulty) nemesis();
    client();
    for (const n of cluster.running()) {
      // Now and then a node misses a tick: clocks drift apart.
      if (faulty && rng.next() < 0.05) continue;
      if (!cluster.isRunning(n.id)) continue;
      n.node.tick();
      ready(n.id);
    }
    deliverDue();
    stopRemoved();
    watchTransfer();
  };

  try {
    for (let i = 0; i < o.rounds; i++) oneRound();

    // Heal and require progress: the final configuration elects a leader and
    // a new entry commits on every member of it.
    faulty = false;
    for (const id of cluster.nodes.keys()) group.set(id, 0);
    note('heal (final)');
    restartDue();
    stopRemoved();
    const marker = encoder.encode(`final-${o.seed}`);
    let proposedAt = -1;
    let recoveryRounds = -1;
    let members: NodeId[] = [];
    for (let i = 0; i < o.livenessRounds; i++) {
      oneRound();
      const leader = cluster.leader();
      if (proposedAt < 0 && leader) {
        try {
          leader.node.propose(marker);
          proposedAt = leader.node.raft.log.lastIndex();
          note(`propose ${leader.id} final at ${proposedAt}`);
          ready(leader.id);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
      if (proposedAt > 0 && leader) {
        const cs = leader.node.confState();
        members = [...cs.voters, ...cs.learners];
        const everywhere = leader.appliedIndex >= proposedAt && members.every((id) => (cluster.nodes.get(id)?.appliedIndex ?? -1) >= proposedAt);
        if (everywhere) {
          recoveryRounds = i + 1;
          break;
        }
        // The leader that took the proposal may have lost leadership before
        // it committed: propose again through the new one.
        if (leader.node.raft.log.termOrZero(proposedAt) !== leader.node.raft.term && leader.node.raft.log.committed < proposedAt) {
          proposedAt = -1;
        }
      }
    }
    if (recoveryRounds < 0) {
      const states = [...cluster.nodes.values()]
        .filter((n) => !n.stopped)
        .map(
          (n) =>
            `${n.id}${n.down ? '(down)' : ''}: state=${n.node.raft.state} term=${n.node.raft.term} lead=${n.node.raft.lead} ` +
            `applied=${n.appliedIndex} commit=${n.node.raft.log.committed} last=${n.node.raft.log.lastIndex()} ` +
            `first=${n.node.raft.log.firstIndex()} voters=${n.confState.voters.join(',')} learners=${n.confState.learners.join(',')}`,
        )
        .join('; ');
      throw new Error(`no progress within ${o.livenessRounds} rounds after healing (proposed at ${proposedAt}; ${states})`);
    }
    const finalLeader = cluster.leader();
    const finalCs = finalLeader ? finalLeader.node.confState() : { voters: [], learners: [] };
    return {
      seed: o.seed,
      nodes: o.nodes,
      messagesDelivered: stats.delivered,
      messagesDropped: stats.dropped,
      proposals: stats.proposals,
      proposalsRejected: stats.rejected,
      committed: invariants.highestApplied,
      readsChecked: invariants.checkedReads,
      leaderTerms: invariants.leaderTerms,
      partitions: stats.partitions,
      confChangesProposed: stats.ccProposed,
      confChangesAccepted: stats.ccAccepted,
      confChangesCommitted: invariants.confChangesCommitted - o.nodes,
      confChangesRefusedPending: stats.ccRefusedPending,
      nodesAdded: stats.nodesAdded,
      nodesRemoved: stats.nodesRemoved,
      removedLearned: stats.removedLearned,
      leaderRemovals: stats.leaderRemovals,
      transfers: stats.transfers,
      transfersCompleted: stats.transfersCompleted,
      snapshotsTaken: cluster.snapshotsTaken,
      snapshotsInstalled: invariants.snapshotsInstalled,
      snapshotReports: stats.snapshotReports,
      crashes: stats.crashes,
      entriesLost: stats.entriesLost,
      finalVoters: finalCs.voters.length,
      finalLearners: finalCs.learners.length,
      recoveryRounds,
    };
  } catch (e) {
    if (e instanceof SafetyViolation || e instanceof Error) throw new SimulationFailure(o.seed, o.nodes, e, transcript, options);
    throw e;
  }
}
