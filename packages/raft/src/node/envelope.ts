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
  return wrapWith(tag.instanceHi, tag.instanceLo, tag.seq, payload);
}

/**
 * {@link wrapProposal} without a tag object: the hot path of every proposal,
 * so bytes are written by hand (a DataView per call costs more than the copy).
 */
export function wrapWith(instanceHi: number, instanceLo: number, seq: number, payload: Uint8Array): Uint8Array {
  const out = alloc(ENVELOPE_BYTES + payload.byteLength);
  out[0] = MAGIC;
  out[1] = VERSION;
  putU32(out, 2, instanceHi);
  putU32(out, 6, instanceLo);
  putU32(out, 10, Math.floor(seq / 0x1_0000_0000));
  putU32(out, 14, seq >>> 0);
  out.set(payload, ENVELOPE_BYTES);
  return out;
}

// Small envelopes are carved out of shared slabs: one ArrayBuffer per 64 KiB
// of proposals instead of one per proposal, which halves the garbage the
// driver makes under load. A slab lives as long as any entry in it.
const SLAB_BYTES = 64 * 1024;
const MAX_SLABBED = 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

function alloc(n: number): Uint8Array {
  if (n > MAX_SLABBED) return new Uint8Array(n);
  if (slabUsed + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  // Keep views 8-byte aligned so later typed views over them stay cheap.
  slabUsed += (n + 7) & ~7;
  return out;
}

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

function getU32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
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
  const tag = {
    instanceHi: getU32(data, 2),
    instanceLo: getU32(data, 6),
    seq: getU32(data, 10) * 0x1_0000_0000 + getU32(data, 14),
  };
  return { tag, payload: data.subarray(ENVELOPE_BYTES) };
}
