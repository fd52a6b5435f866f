import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { crc32c, maskCrc } from './crc32c.js';

/**
 * Checks every block of every LevelDB table (`*.ldb`, `*.sst`) in the
 * database directory `location` against the CRC-32C LevelDB stored with it.
 * Resolves with `undefined` when all pass, or with what is wrong with the
 * first table that does not ("000005.ldb: block at offset 0 (744 bytes)
 * fails its checksum").
 *
 * @remarks
 * Why: classic-level has LevelDB read tables without checking their
 * checksums (no `verify_checksums`, no `paranoid_checks`), and the LevelDB
 * it ships is built with assertions on. A flipped bit in a key of a table
 * then aborts the whole process (`ExtractUserKey: Assertion
 * internal_key.size() >= 8 failed`), on every start, instead of giving an
 * error; damaged values come back as they are. The log and the manifest
 * are checked by LevelDB itself. Run before LevelDB opens the directory
 * (its first compaction may read any table).
 *
 * Table layout (LevelDB's `table_format.md`): blocks, each followed by a
 * type byte (0 plain, 1 snappy) and the masked CRC-32C of the block and its
 * type; at the end a 48-byte footer with the handles (varint offset and
 * size) of the metaindex and index blocks and a magic number. The index
 * lists the data blocks, the metaindex the filter block. Only those two
 * blocks are decompressed, to read the handles; every block's checksum is
 * taken as stored.
 *
 * A table LevelDB no longer uses, left by a crash before it was deleted,
 * is checked too: damage there refuses to open although LevelDB would not
 * read it (rare, and on the safe side).
 *
 * @internal
 */
export async function checkTables(location: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(location);
  } catch {
    return undefined; // no database yet
  }
  for (const name of names.filter((n) => /^\d+\.(ldb|sst)$/.test(n)).sort()) {
    const problem = checkTable(await readFile(join(location, name)));
    if (problem !== undefined) return `LevelDB table ${name}: ${problem}`;
  }
  return undefined;
}

const FOOTER_BYTES = 48;
const TRAILER_BYTES = 5;
const MAGIC_LO = 0x8b80fb57;
const MAGIC_HI = 0xdb477524;
/** Larger than any block LevelDB writes for kv (4 KiB blocks; a single large value makes one block of its size). */
const MAX_BLOCK_BYTES = 1 << 30;

interface Handle {
  readonly offset: number;
  readonly size: number;
}

/** Thrown inside the checker with what is wrong; turned into the result. */
class Damage extends Error {}

function damaged(what: string): never {
  throw new Damage(what);
}

/** What is wrong with one table file, or undefined. */
function checkTable(file: Uint8Array): string | undefined {
  try {
    if (file.length < FOOTER_BYTES) damaged(`${file.length} bytes, shorter than a table footer (${FOOTER_BYTES})`);
    const footer = file.length - FOOTER_BYTES;
    if (u32le(file, file.length - 8) !== MAGIC_LO || u32le(file, file.length - 4) !== MAGIC_HI) damaged('the footer has no table magic number');
    const at = { pos: footer };
    const metaindex = handle(file, at, footer + 40);
    const index = handle(file, at, footer + 40);
    for (const h of handlesIn(block(file, index, footer, 'index'), 'index')) block(file, h, footer, 'data');
    for (const h of handlesIn(block(file, metaindex, footer, 'metaindex'), 'metaindex')) block(file, h, footer, 'meta');
    return undefined;
  } catch (e) {
    if (e instanceof Damage) return e.message;
    throw e;
  }
}

/** A block's contents after checking its checksum; decompressed when it is to be read. */
function block(file: Uint8Array, h: Handle, end: number, what: string): Uint8Array {
  if (h.size > MAX_BLOCK_BYTES || h.offset + h.size + TRAILER_BYTES > end) {
    damaged(`the ${what} block at offset ${h.offset} (${h.size} bytes) runs past the end of the table`);
  }
  const stored = u32le(file, h.offset + h.size + 1);
  if (maskCrc(crc32c(file.subarray(h.offset, h.offset + h.size + 1))) !== stored) {
    damaged(`the ${what} block at offset ${h.offset} (${h.size} bytes) fails its checksum`);
  }
  const type = file[h.offset + h.size];
  const contents = file.subarray(h.offset, h.offset + h.size);
  if (type === 0) return contents;
  if (type === 1) return what === 'data' || what === 'meta' ? contents : unsnappy(contents, what);
  return damaged(`the ${what} block at offset ${h.offset} has unknown compression type ${type}`);
}

/** The values of a block's entries, read as block handles. */
function handlesIn(contents: Uint8Array, what: string): Handle[] {
  if (contents.length < 4) damaged(`the ${what} block is ${contents.length} bytes`);
  const restarts = u32le(contents, contents.length - 4);
  const entriesEnd = contents.length - 4 - 4 * restarts;
  if (restarts < 1 || entriesEnd < 0) damaged(`the ${what} block has ${restarts} restart points in ${contents.length} bytes`);
  const out: Handle[] = [];
  const at = { pos: 0 };
  while (at.pos < entriesEnd) {
    varint(contents, at, entriesEnd); // bytes shared with the previous key
    const unshared = varint(contents, at, entriesEnd);
    const valueBytes = varint(contents, at, entriesEnd);
    at.pos += unshared;
    const valueEnd = at.pos + valueBytes;
    if (valueEnd > entriesEnd) damaged(`an entry of the ${what} block runs past its end`);
    out.push(handle(contents, at, valueEnd));
    at.pos = valueEnd;
  }
  return out;
}

function handle(b: Uint8Array, at: { pos: number }, end: number): Handle {
  return { offset: varint(b, at, end), size: varint(b, at, end) };
}

/** A varint of up to 64 bits (table offsets and sizes fit a double exactly). */
function varint(b: Uint8Array, at: { pos: number }, end: number): number {
  let value = 0;
  let scale = 1;
  for (let k = 0; k < 10; k++) {
    if (at.pos >= end) damaged('a varint runs past the end of its block');
    const byte = b[at.pos++];
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return value;
    scale *= 128;
  }
  return damaged('a varint is longer than 10 bytes');
}

function u32le(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/** Snappy's raw format: the uncompressed length, then literals and back-references. Checked at every step. */
function unsnappy(src: Uint8Array, what: string): Uint8Array {
  const at = { pos: 0 };
  const length = varint(src, at, src.length);
  if (length > MAX_BLOCK_BYTES) damaged(`the ${what} block claims ${length} bytes uncompressed`);
  const out = new Uint8Array(length);
  let op = 0;
  const bad = (): never => damaged(`the ${what} block does not decompress`);
  while (at.pos < src.length) {
    const tag = src[at.pos++];
    if ((tag & 3) === 0) {
      let n = tag >>> 2;
      if (n >= 60) {
        const bytes = n - 59;
        if (at.pos + bytes > src.length) bad();
        n = 0;
        for (let k = 0; k < bytes; k++) n += src[at.pos + k] * 2 ** (8 * k);
        at.pos += bytes;
      }
      n += 1;
      if (at.pos + n > src.length || op + n > length) bad();
      out.set(src.subarray(at.pos, at.pos + n), op);
      at.pos += n;
      op += n;
      continue;
    }
    let n: number;
    let offset: number;
    if ((tag & 3) === 1) {
      if (at.pos + 1 > src.length) bad();
      n = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | src[at.pos++];
    } else if ((tag & 3) === 2) {
      if (at.pos + 2 > src.length) bad();
      n = (tag >>> 2) + 1;
      offset = src[at.pos] | (src[at.pos + 1] << 8);
      at.pos += 2;
    } else {
      if (at.pos + 4 > src.length) bad();
      n = (tag >>> 2) + 1;
      offset = u32le(src, at.pos);
      at.pos += 4;
    }
    if (offset === 0 || offset > op || op + n > length) bad();
    for (let k = 0; k < n; k++, op++) out[op] = out[op - offset];
  }
  if (op !== length) bad();
  return out;
}
