import { RaftError } from '../errors.js';
import { ConfChangeType, type ConfChange } from '../types.js';

// Layout: 'K' 0x01 | type u8 | id length u16 (big-endian) | id UTF-8 | context.
// A fixed binary layout (no JSON) so context bytes travel as they are and a
// stray Normal entry is never mistaken for a change.
const MAGIC = 0x4b;
const VERSION = 1;
const HEADER = 5;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a change for the data of an {@link EntryType.ConfChange} entry. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const id = encoder.encode(cc.nodeId);
  if (id.byteLength === 0 || id.byteLength > 0xffff) {
    throw new RaftError('RAFT_CONF_CHANGE_INVALID', `node ID must be 1 to 65535 bytes, got ${id.byteLength}`);
  }
  if (ConfChangeType[cc.type] === undefined) {
    throw new RaftError('RAFT_CONF_CHANGE_INVALID', `unknown conf change type ${String(cc.type)}`);
  }
  const ctx = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(HEADER + id.byteLength + ctx.byteLength);
  out[0] = MAGIC;
  out[1] = VERSION;
  out[2] = cc.type;
  out[3] = id.byteLength >> 8;
  out[4] = id.byteLength & 0xff;
  out.set(id, HEADER);
  out.set(ctx, HEADER + id.byteLength);
  return out;
}

/**
 * Decodes a change from an entry's data.
 *
 * @throws RaftError `RAFT_CONF_CHANGE_INVALID` when the bytes are not a change.
 */
export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.byteLength < HEADER || data[0] !== MAGIC || data[1] !== VERSION) {
    throw new RaftError('RAFT_CONF_CHANGE_INVALID', 'entry data is not an encoded conf change');
  }
  const type = data[2] as ConfChangeType;
  if (ConfChangeType[type] === undefined) throw new RaftError('RAFT_CONF_CHANGE_INVALID', `unknown conf change type ${type}`);
  const idLen = (data[3] << 8) | data[4];
  if (idLen === 0 || HEADER + idLen > data.byteLength) {
    throw new RaftError('RAFT_CONF_CHANGE_INVALID', `conf change node ID length ${idLen} does not fit in ${data.byteLength} bytes`);
  }
  let nodeId: string;
  try {
    nodeId = decoder.decode(data.subarray(HEADER, HEADER + idLen));
  } catch (e) {
    throw new RaftError('RAFT_CONF_CHANGE_INVALID', 'conf change node ID is not UTF-8', { cause: e });
  }
  const context = data.slice(HEADER + idLen);
  return context.byteLength > 0 ? { type, nodeId, context } : { type, nodeId };
}
