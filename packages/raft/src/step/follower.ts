import type { Raft } from '../raft.js';
import { CampaignType } from '../raft.js';
import { MessageType, NONE, type Message } from '../types.js';

/** Handles a message (term already settled) as a follower. */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgProp:
      if (r.lead === NONE) return r.dropProposal(m, 'RAFT_NO_LEADER', `no leader at term ${r.term}`);
      if (r.disableProposalForwarding) {
        return r.dropProposal(m, 'RAFT_NOT_LEADER', `not leader at term ${r.term} and proposal forwarding is disabled`);
      }
      // Copy: a stepped message is never mutated.
      r.send({ ...m, to: r.lead });
      return;
    case MessageType.MsgApp:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleAppendEntries(m);
      return;
    case MessageType.MsgHeartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleHeartbeat(m);
      return;
    case MessageType.MsgSnap:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleSnapshot(m);
      return;
    case MessageType.MsgTransferLeader:
      if (r.lead === NONE) {
        r.logger.info(`${r.id} no leader at term ${r.term}; dropping leader transfer msg`);
        return;
      }
      r.send({ ...m, to: r.lead });
      return;
    case MessageType.MsgTimeoutNow:
      // The leader chose us: campaign now, at a higher term, skipping the
      // pre-vote (the leader is about to step aside anyway).
      r.logger.info(`${r.id} [term ${r.term}] received MsgTimeoutNow from ${m.from} and starts an election to get leadership`);
      r.hup(CampaignType.Transfer);
      return;
    case MessageType.MsgReadIndex:
      if (r.lead === NONE) return r.dropRead(m, 'RAFT_NO_LEADER', `no leader at term ${r.term}`);
      r.send({ ...m, to: r.lead });
      return;
    case MessageType.MsgReadIndexResp:
      r.readStates.push({ index: m.index, requestCtx: m.context ?? new Uint8Array(0) });
      return;
    default:
      return;
  }
}
