import { RaftError } from '../errors.js';

/**
 * Who proposed an entry: the driver prefixes every proposal with the
 * proposing node's instance ID and a sequence number, so that when the entry
 * comes back committed — possibly via another leader, possibly after this
 * node forwarded it — the proposer can settle its caller's promise.
 *
 * @remarks
 * The instance ID is random per process start, so entries proposed before a
 * restart never settle promises made after it.
 *
 * Layout: 0xEE 0x01 | instance (8 bytes) | sequence (u32 hi, u32 lo) | payload.
 */
export interface ProposalTag {
  readonly instanceHi: number;
  readonly instanceLo: number;
  readonly seq: number;
}

const MAGIC = 0xee;
const VERSION = 1;
/** Bytes the envelope adds in front of a payload. */
export const ENVELOPE_BYTES = 18;

/** Prefixes `payload` with its proposer's tag. */
export function wrapProposal(tag: ProposalTag, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(ENVELOPE_BYTES + payload.byteLength);
  const dv = new DataView(out.buffer);
  out[0] = MAGIC;
  out[1] = VERSION;
  dv.setUint32(2, tag.instanceHi);
  dv.setUint32(6, tag.instanceLo);
  dv.setUint32(10, Math.floor(tag.seq / 0x1_0000_0000));
  dv.setUint32(14, tag.seq >>> 0);
  out.set(payload, ENVELOPE_BYTES);
  return out;
}

/**
 * Splits committed entry data into its tag and payload.
 *
 * @throws RaftError `RAFT_INVALID_MESSAGE` when the data is not an envelope
 * (a log written by something other than this driver).
 */
export function unwrapProposal(data: Uint8Array): { tag: ProposalTag; payload: Uint8Array } {
  if (data.byteLength < ENVELOPE_BYTES || data[0] !== MAGIC || data[1] !== VERSION) {
    throw new RaftError('RAFT_INVALID_MESSAGE', `entry data (${data.byteLength} bytes) is not a proposal envelope`);
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const tag = {
    instanceHi: dv.getUint32(2),
    instanceLo: dv.getUint32(6),
    seq: dv.getUint32(10) * 0x1_0000_0000 + dv.getUint32(14),
  };
  return { tag, payload: data.subarray(ENVELOPE_BYTES) };
}
