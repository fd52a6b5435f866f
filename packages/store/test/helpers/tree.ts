// Small helpers for the key tree tests (key-tree*.test.ts, index-registry.test.ts):
// apply a command and insist on its outcome, compare values that went through
// msgpack, and a fixed wall-clock origin late enough for TTLs (the tree treats
// expiration times before 2000-01-01 as permanent, as etcd does).
import assert from 'node:assert/strict';

import { KvError, type KvErrorCodeValue } from '../../src/errors.ts';
import { storePackr, type Command } from '../../src/tree/command.ts';
import type { KeyTree, TreeSnapshot } from '../../src/tree/key-tree.ts';
import type { KvEvent } from '../../src/tree/types.ts';

/** 2024-01-01T00:00:00Z: the wall clock the tests start from. */
export const T0 = Date.UTC(2024, 0, 1);

/** Applies `cmd` at `index` and returns its single change event (fails on a refusal or an event list). */
export function applyOk(tree: KeyTree, cmd: Command, index: number): KvEvent {
  const r = tree.apply(cmd, index);
  if (r instanceof KvError) assert.fail(`expected ${cmd.op} ${'key' in cmd ? cmd.key : ''} to succeed, got ${r.errorCode} ${r.message} (${r.cause})`);
  assert.ok(!Array.isArray(r), `expected one event from ${cmd.op}, got a list`);
  return r;
}

/** Applies an `expire` command at `index` and returns its events. */
export function applyExpire(tree: KeyTree, now: number, index: number): KvEvent[] {
  const r = tree.apply({ op: 'expire', now }, index);
  if (r instanceof KvError) assert.fail(`expected a list of expire events, got error ${r.errorCode} (${r.cause})`);
  if (!Array.isArray(r)) assert.fail(`expected a list of expire events, got one ${r.action} event`);
  return r;
}

/** What a test expects of a KvError. */
export interface ExpectedKvError {
  readonly errorCode: KvErrorCodeValue;
  readonly cause?: string;
  readonly index?: number;
}

/** Asserts `e` is a KvError with the expected code (and cause and index, when given). */
export function assertKvError(e: unknown, expected: ExpectedKvError): KvError {
  assert.ok(e instanceof KvError, `expected a KvError ${expected.errorCode}, got ${describe(e)}`);
  const got: Record<string, unknown> = { errorCode: e.errorCode };
  const want: Record<string, unknown> = { errorCode: expected.errorCode };
  if (expected.cause !== undefined) {
    got.cause = e.cause;
    want.cause = expected.cause;
  }
  if (expected.index !== undefined) {
    got.index = e.index;
    want.index = expected.index;
  }
  assert.deepEqual(got, want);
  return e;
}

/** Applies `cmd` at `index` and asserts the tree refuses it with the expected KvError. */
export function applyErr(tree: KeyTree, cmd: Command, index: number, expected: ExpectedKvError): KvError {
  return assertKvError(tree.apply(cmd, index), expected);
}

/** Runs `fn` and asserts it throws the expected KvError. */
export function throwsKvError(fn: () => unknown, expected: ExpectedKvError): KvError {
  try {
    fn();
  } catch (e) {
    return assertKvError(e, expected);
  }
  return assert.fail(`expected KvError ${expected.errorCode}, nothing was thrown`);
}

/** A snapshot after a msgpack round trip, the way KvStateMachine ships it. */
export function viaMsgpack(s: TreeSnapshot): TreeSnapshot {
  return storePackr.unpack(storePackr.pack(s)) as TreeSnapshot;
}

/**
 * A value in a form deepStrictEqual compares by content: byte arrays (which
 * come back from msgpack as Buffers) become `{ bytes: [...] }`, -0 becomes 0,
 * and `undefined` object properties are dropped.
 */
export function canon(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (typeof v === 'number') return v === 0 ? 0 : v;
  if (Array.isArray(v)) return v.map(canon);
  if (v instanceof KvError) return { errorCode: v.errorCode, cause: v.cause, index: v.index };
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = canon(x);
    return out;
  }
  return v;
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  if (typeof e === 'object' && e !== null && 'action' in e) return `an event (${String((e as { action: unknown }).action)})`;
  return String(e);
}
