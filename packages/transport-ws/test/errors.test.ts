// Every error code has a README section (undici's errors test does the same),
// and createError sets the fields a caller relies on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { CloseCode, createError, WsTransportError } from '../src/errors.ts';

const source = readFileSync(new URL('../src/errors.ts', import.meta.url), 'utf8');
const union = source.slice(source.indexOf('export type WsTransportErrorCode'), source.indexOf(';', source.indexOf('export type WsTransportErrorCode')));
const codes = [...union.matchAll(/'(WS_[A-Z_]+)'/g)].map((m) => m[1]);

test('every WsTransportErrorCode has a section in the package README', () => {
  assert.deepEqual(codes.sort(), ['WS_AUTH_FAILED', 'WS_BAD_FRAME', 'WS_CLUSTER_ID_MISMATCH', 'WS_FRAME_TOO_LARGE', 'WS_HANDSHAKE_REJECTED']);
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const missing = codes.filter((c) => !readme.includes(`### ${c}\n`));
  assert.deepEqual(missing, [], `undocumented codes: ${missing.join(', ')}`);
});

test('createError sets the code, the message, the close code and the cause', () => {
  const cause = new Error('inner');
  const e = createError('WS_FRAME_TOO_LARGE', 'frame is 5 bytes, maxFrameBytes is 4', { cause });
  assert.ok(e instanceof WsTransportError && e instanceof Error);
  assert.equal(e.name, 'WsTransportError');
  assert.equal(e.code, 'WS_FRAME_TOO_LARGE');
  assert.equal(e.closeCode, CloseCode.MessageTooBig);
  assert.equal(e.cause, cause);
  assert.equal(createError('WS_BAD_FRAME', 'x').closeCode, CloseCode.InvalidPayload);
  assert.equal(createError('WS_BAD_FRAME', 'x', { closeCode: CloseCode.UnsupportedData }).closeCode, 1003);
  for (const c of ['WS_HANDSHAKE_REJECTED', 'WS_CLUSTER_ID_MISMATCH', 'WS_AUTH_FAILED'] as const) {
    assert.equal(createError(c, 'x').closeCode, CloseCode.PolicyViolation);
  }
});

test('instanceof holds for an error made by another copy of the package (Symbol.for brand)', () => {
  const foreign = Object.assign(new Error('x'), { [Symbol.for('kv.transport-ws.WsTransportError')]: true });
  assert.ok(foreign instanceof WsTransportError);
  assert.ok(!(new Error('y') instanceof WsTransportError));
});
