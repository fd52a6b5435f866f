import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MessageType } from '@kv/raft';

import { splitSnapshot } from '../src/snapshot-stream.ts';
import { msg } from './helpers.ts';

const meta = { index: 3, term: 1, confState: { voters: ['a'], learners: [] } };

test('splits a whole snapshot into chunks covering it in order', () => {
  const data = Uint8Array.from({ length: 10 }, (_, i) => i);
  const parts = splitSnapshot(msg({ type: MessageType.MsgSnap, from: 'a', to: 'b', snapshot: { data, metadata: meta } }), 4);
  assert.deepEqual(parts.map((p) => p.snapshotChunk), [{ offset: 0, totalBytes: 10 }, { offset: 4, totalBytes: 10 }, { offset: 8, totalBytes: 10 }]);
  assert.deepEqual(parts.flatMap((p) => [...p.snapshot!.data]), [...data]);
  assert.ok(parts.every((p) => p.snapshot!.metadata === meta));
});

test('splits a chunk further inside its own range', () => {
  const m = msg({ type: MessageType.MsgSnap, from: 'a', to: 'b', snapshot: { data: new Uint8Array(6), metadata: meta } });
  m.snapshotChunk = { offset: 100, totalBytes: 1000 };
  assert.deepEqual(splitSnapshot(m, 4).map((p) => p.snapshotChunk), [{ offset: 100, totalBytes: 1000 }, { offset: 104, totalBytes: 1000 }]);
});

test('leaves small snapshots and other messages alone', () => {
  const small = msg({ type: MessageType.MsgSnap, from: 'a', to: 'b', snapshot: { data: new Uint8Array(4), metadata: meta } });
  assert.deepEqual(splitSnapshot(small, 4), [small]);
  const hb = msg({ type: MessageType.MsgHeartbeat, from: 'a', to: 'b' });
  assert.deepEqual(splitSnapshot(hb, 1), [hb]);
});
