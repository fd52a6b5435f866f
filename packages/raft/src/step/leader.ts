import { InvariantError, RaftError } from '../errors.js';
import { changeConfig } from '../confchange/changer.js';
import { decodeConfChange } from '../confchange/codec.js';
import type { Raft } from '../raft.js';
import { EntryType, MessageType, NONE, ProgressState, type Message } from '../types.js';

/** Handles a message (term already settled) as the leader. */
export function stepLeader(r: Raft, m: Message): void {
  // Messages that need no Progress of the sender.
  switch (m.type) {
    case MessageType.MsgBeat:
      r.bcastHeartbeat();
      return;
    case MessageType.MsgCheckQuorum:
      if (!r.trk.quorumActive(r.id)) {
        r.logger.warn(`${r.id} stepped down to follower since quorum is not active`);
        r.becomeFollower(r.term, NONE);
      }
      // Every round starts from silence: only peers heard from during the
      // next election timeout count at the next check.
      for (const [id, pr] of r.trk.progress) if (id !== r.id) pr.recentActive = false;
      return;
    case MessageType.MsgProp:
      stepProposal(r, m);
      return;
    case MessageType.MsgReadIndex:
      stepReadIndex(r, m);
      return;
  }

  const pr = r.trk.progress.get(m.from);
  if (!pr) {
    r.logger.debug(`${r.id} no progress available for ${m.from}`);
    return;
  }
  switch (m.type) {
    case MessageType.MsgAppResp: {
      pr.recentActive = true;
      if (m.reject) {
        r.logger.debug(
          `${r.id} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${m.from} for index ${m.index}`,
        );
        let nextProbeIdx = m.rejectHint;
        if (m.logTerm > 0) {
          // The follower told us its last entry at or before the probe
          // with a term ≤ ours there. Skip, on our side, every entry whose
          // term is greater than that term: none of them can match.
          nextProbeIdx = r.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
        }
        if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
          if (pr.state === ProgressState.Replicate) pr.becomeProbe();
          r.requestAppend(m.from, { sendIfEmpty: false });
        }
        return;
      }
      const oldPaused = pr.isPaused();
      // An acknowledgement of exactly what we know the follower has still
      // answers a probe: it proves the follower matches there, so the flow
      // can move to Replicate (etcd's heartbeat_rep_recovers_from_probing).
      const answersProbe = pr.state === ProgressState.Probe && m.index === pr.match;
      if (!pr.maybeUpdate(m.index) && !answersProbe) return;
      if (pr.state === ProgressState.Probe) {
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= r.log.firstIndex()) {
        // The snapshot landed (or the follower caught up otherwise): the
        // log has what it needs next.
        r.logger.debug(`${r.id} snapshot succeeded, resumed sending replication messages to ${m.from}`);
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Replicate) {
        pr.inflights.freeLE(m.index);
      }
      if (r.maybeCommit()) {
        r.releasePendingReadIndexMessages();
        r.bcastAppend();
      } else if (oldPaused || pr.match < r.log.lastIndex()) {
        r.requestAppend(m.from, { sendIfEmpty: false });
      }
      if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
        r.logger.info(`${r.id} sent MsgTimeoutNow to ${m.from} after received MsgAppResp`);
        r.sendTimeoutNow(m.from);
      }
      return;
    }
    case MessageType.MsgHeartbeatResp: {
      pr.recentActive = true;
      pr.msgAppFlowPaused = false;
      // If the whole window was lost, acks never come back: free a slot so
      // the next append can go, and its rejection resets the flow.
      if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
      // A follower behind our log gets an append even if we think we sent
      // it everything: the appends may have been lost (Replicate moves
      // `next` optimistically), and only its rejection resets the flow.
      if (pr.match < r.log.lastIndex()) r.requestAppend(m.from, { sendIfEmpty: true });
      else if (pr.sentCommit < r.log.committed) r.requestAppend(m.from, { sendIfEmpty: false });
      if (m.context === undefined || r.readOnly.size === 0) return;
      const acks = r.readOnly.recvAck(m.from, m.context);
      if (!acks || !r.hasQuorum(acks)) return;
      for (const rs of r.readOnly.advance(m.context)) r.responseToReadIndexReq(rs.req, rs.index);
      return;
    }
    case MessageType.MsgSnapStatus:
      if (pr.state !== ProgressState.Snapshot) return;
      if (m.reject) {
        r.logger.debug(`${r.id} snapshot failed, resumed sending replication messages to ${m.from}`);
        pr.pendingSnapshot = 0;
        pr.becomeProbe();
      } else {
        r.logger.debug(`${r.id} snapshot succeeded, resumed sending replication messages to ${m.from}`);
        pr.becomeProbe();
      }
      // Wait for a heartbeat response (or the append response) before the
      // next probe: the snapshot may still be applying.
      pr.msgAppFlowPaused = true;
      return;
    case MessageType.MsgUnreachable:
      // A dropped MsgApp in Replicate state would stall the pipeline: fall
      // back to probing.
      if (pr.state === ProgressState.Replicate) pr.becomeProbe();
      r.logger.debug(`${r.id} failed to send message to ${m.from} because it is unreachable`);
      return;
    case MessageType.MsgTransferLeader: {
      if (pr.isLearner) {
        r.logger.debug(`${r.id} is learner. Ignored transferring leadership`);
        return;
      }
      const transferee = m.from;
      const last = r.leadTransferee;
      if (last !== NONE) {
        if (last === transferee) {
          r.logger.info(`${r.id} [term ${r.term}] transfer leadership to ${transferee} is in progress, ignores request to same node`);
          return;
        }
        r.abortLeaderTransfer();
      }
      if (transferee === r.id) {
        r.logger.debug(`${r.id} is already leader. Ignored transferring leadership to self`);
        return;
      }
      r.logger.info(`${r.id} [term ${r.term}] starts to transfer leadership to ${transferee}`);
      // The transfer must finish within one election timeout.
      r.electionElapsed = 0;
      r.leadTransferee = transferee;
      if (pr.match === r.log.lastIndex()) {
        r.sendTimeoutNow(transferee);
        r.logger.info(`${r.id} sends MsgTimeoutNow to ${transferee} immediately as ${transferee} already has up-to-date log`);
      } else {
        // Even if we think we sent it everything, an (empty) append makes a
        // lagging target reject and restart its flow now, not at the next
        // heartbeat: the transfer has one election timeout to finish.
        r.requestAppend(transferee, { sendIfEmpty: true });
      }
      return;
    }
    default:
      return;
  }
}

function stepProposal(r: Raft, m: Message): void {
  if (m.entries.length === 0) throw new InvariantError(`${r.id} stepped empty MsgProp`);
  if (!r.trk.progress.has(r.id)) {
    return r.dropProposal(m, 'RAFT_NOT_LEADER', `${r.id} is not a member of the cluster`);
  }
  if (r.leadTransferee !== NONE) {
    return r.dropProposal(m, 'RAFT_TRANSFER_IN_PROGRESS', `leadership transfer to ${r.leadTransferee} is in progress`);
  }
  let confChanges = 0;
  for (const e of m.entries) {
    if (e.type !== EntryType.ConfChange) continue;
    if (++confChanges > 1) {
      return r.dropProposal(m, 'RAFT_CONF_CHANGE_PENDING', 'only one configuration change may be proposed at a time');
    }
    // One change at a time: the previous one must be applied first, so
    // every change is judged against the configuration it will meet.
    if (r.pendingConfIndex > r.log.applied) {
      return r.dropProposal(
        m,
        'RAFT_CONF_CHANGE_PENDING',
        `a configuration change is already pending (index ${r.pendingConfIndex} > applied ${r.log.applied})`,
      );
    }
    let refused: string | undefined;
    try {
      const res = changeConfig(r.trk.confState(), decodeConfChange(e.data));
      if ('refused' in res) refused = res.refused;
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      refused = err.message;
    }
    if (refused !== undefined) return r.dropProposal(m, 'RAFT_CONF_CHANGE_INVALID', refused);
  }
  r.appendEntry(m.entries);
  if (confChanges > 0) {
    for (let i = m.entries.length - 1; i >= 0; i--) {
      if (m.entries[i].type === EntryType.ConfChange) {
        r.pendingConfIndex = r.log.lastIndex() - (m.entries.length - 1 - i);
        break;
      }
    }
  }
  r.bcastAppend();
}

function stepReadIndex(r: Raft, m: Message): void {
  if (r.trk.isSingleton(r.id)) {
    // Nobody to confirm leadership with: the commit index is the answer.
    r.responseToReadIndexReq(m, r.log.committed);
    return;
  }
  if (!r.committedEntryInCurrentTerm()) {
    // Until this term's first entry commits, our commit index may lag what
    // an earlier leader committed (thesis §6.4): hold the read.
    r.pendingReadIndexMessages.push(m);
    return;
  }
  r.sendMsgReadIndexResponse(m);
}

