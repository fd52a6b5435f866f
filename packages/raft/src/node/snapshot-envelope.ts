import { RaftError } from '../errors.js';
import type { MembersSnapshot } from './members.js';

// Layout: 'S' 0x01 | header length u32 | header JSON | state machine bytes.
// The driver keeps its own state (member addresses, removed IDs) beside the
// host's, so a node restored from a snapshot knows its peers.
const MAGIC = 0x53;
const VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Wraps the state machine's snapshot with the driver's member registry. */
export function wrapSnapshot(members: MembersSnapshot, app: Uint8Array): Uint8Array {
  const header = encoder.encode(JSON.stringify(members));
  const out = new Uint8Array(6 + header.byteLength + app.byteLength);
  out[0] = MAGIC;
  out[1] = VERSION;
  new DataView(out.buffer).setUint32(2, header.byteLength);
  out.set(header, 6);
  out.set(app, 6 + header.byteLength);
  return out;
}

/**
 * Splits snapshot data into the member registry and the state machine's bytes.
 *
 * @throws RaftError `RAFT_INVALID_MESSAGE` for data not made by {@link wrapSnapshot}.
 */
export function unwrapSnapshot(data: Uint8Array): { members: MembersSnapshot; app: Uint8Array } {
  if (data.byteLength < 6 || data[0] !== MAGIC || data[1] !== VERSION) {
    throw new RaftError('RAFT_INVALID_MESSAGE', 'snapshot data is not a driver snapshot');
  }
  const len = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(2);
  if (6 + len > data.byteLength) throw new RaftError('RAFT_INVALID_MESSAGE', `snapshot header of ${len} bytes overruns the data`);
  let members: MembersSnapshot;
  try {
    members = JSON.parse(decoder.decode(data.subarray(6, 6 + len))) as MembersSnapshot;
  } catch (e) {
    throw new RaftError('RAFT_INVALID_MESSAGE', 'snapshot header is not valid JSON', { cause: e });
  }
  if (!Array.isArray(members.members) || !Array.isArray(members.removed)) {
    throw new RaftError('RAFT_INVALID_MESSAGE', 'snapshot header lacks members or removed');
  }
  return { members, app: data.subarray(6 + len) };
}
