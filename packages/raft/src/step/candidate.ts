import type { Raft } from '../raft.js';
import { CampaignType } from '../raft.js';
import { VoteResult } from '../quorum/majority.js';
import { MessageType, NONE, StateType, type Message } from '../types.js';

/** Handles a message (term already settled) as a candidate or pre-candidate. */
export function stepCandidate(r: Raft, m: Message): void {
  // A pre-candidate counts only pre-votes, a candidate only votes: a late
  // answer from the other phase must not be miscounted.
  const myVoteRespType = r.state === StateType.PreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
  switch (m.type) {
    case MessageType.MsgProp:
      return r.dropProposal(m, 'RAFT_NO_LEADER', `no leader at term ${r.term}`);
    case MessageType.MsgReadIndex:
      return r.dropRead(m, 'RAFT_NO_LEADER', `no leader at term ${r.term}`);
    case MessageType.MsgApp:
      // A leader exists at our term (we lost the election).
      r.becomeFollower(m.term, m.from);
      r.handleAppendEntries(m);
      return;
    case MessageType.MsgHeartbeat:
      r.becomeFollower(m.term, m.from);
      r.handleHeartbeat(m);
      return;
    case MessageType.MsgSnap:
      r.becomeFollower(m.term, m.from);
      r.handleSnapshot(m);
      return;
    case myVoteRespType: {
      const result = r.poll(m.from, m.type, !m.reject);
      if (result === VoteResult.Won) {
        if (r.state === StateType.PreCandidate) r.campaign(CampaignType.Election);
        else r.becomeLeader();
      } else if (result === VoteResult.Lost) {
        // A pre-candidate may have a lower term than the rejections it got;
        // the term comes from the node, not from the message.
        r.becomeFollower(r.term, NONE);
      }
      return;
    }
    case MessageType.MsgTimeoutNow:
      r.logger.debug(`${r.id} [term ${r.term} state ${r.state}] ignored MsgTimeoutNow from ${m.from}`);
      return;
    default:
      return;
  }
}
