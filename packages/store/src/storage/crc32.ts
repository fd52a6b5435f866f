import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, the polynomial of zlib, gzip and PNG) of `data`,
 * continuing from `previous` so a checksum can span several buffers:
 * `crc32(b, crc32(a)) === crc32(a ‖ b)`.
 *
 * @remarks
 * Uses `zlib.crc32` where Node has it (20.15+, 22.2+) and a table-driven
 * implementation of the same function otherwise; both give the same values
 * (a test checks them against each other).
 */
export const crc32: (data: Uint8Array, previous?: number) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data, previous = 0) => zlib.crc32(data, previous)
    : tableCrc32;

let table: Uint32Array | undefined;

/** The table-driven CRC-32, one byte per step. Exported for the test that compares it with zlib's. */
export function tableCrc32(data: Uint8Array, previous = 0): number {
  const t = (table ??= makeTable());
  let c = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    // 0xedb88320 is the IEEE polynomial 0x04c11db7 with its bits reversed.
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}
