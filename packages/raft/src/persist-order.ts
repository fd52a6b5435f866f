import { MessageType, type Message } from './types.js';

/**
 * Whether a leader's driver may send `m` before its own write of the Ready
 * that carries it has finished (Raft thesis §10.2.1): appends, heartbeats
 * and snapshots promise nothing about the leader's disk, because the
 * leader's own copy of an entry counts toward commit only once the driver
 * reports it persisted (`RawNode.advance`). Every other message (a vote, an
 * append acknowledgement) waits for the write, as Ready's contract says.
 */
export function sendableBeforePersist(m: Message): boolean {
  return m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap;
}
