// Regressions: bugs found while writing the core's tests, fixed since. Each
// test states the input, what should happen and which rule says so.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isRaftError } from '../src/errors.ts';
import { RawNode } from '../src/raw-node.ts';
import { MemoryStorage } from '../src/storage.ts';
import { MessageType, message, type Snapshot } from '../src/types.ts';

describe('regression: RawNode.step lets a malformed MsgSnap through', () => {
  // raw-node.ts, RawNode.step TSDoc: "@throws RaftError ... RAFT_INVALID_MESSAGE
  // for a malformed message. Nothing changes then." STYLE.md: bad input from
  // outside goes through one error helper and never crashes the process.
  //
  // validateMessage only checks that a MsgSnap's `snapshot` is an object. The
  // message then reaches Raft.step, which takes the higher term and the
  // leader first, and handleSnapshot/restore read `snapshot.metadata` as if
  // it were well formed: a TypeError after state has changed, a log restored
  // without its membership, or a string stored as the commit index. The
  // check MsgApp entries get (term within [logTerm, term]) has no
  // counterpart for a snapshot's term either.
  const voters = ['1', '2', '3'];
  const cases: { name: string; snapshot: unknown; actual: string }[] = [
    { name: 'no metadata', snapshot: {}, actual: "TypeError: Cannot destructure property 'index' of 's.metadata'; term 2 and lead 2 already taken" },
    {
      name: 'metadata without a confState',
      snapshot: { data: new Uint8Array(), metadata: { index: 5, term: 1 } },
      actual: "TypeError: Cannot read properties of undefined (reading 'voters'), after the log was restored: commit 5, last index 5",
    },
    {
      name: 'a string index',
      snapshot: { data: new Uint8Array(), metadata: { index: '7', term: 1, confState: { voters, learners: [] } } },
      actual: 'accepted: commit and last index become 7 (from a string)',
    },
    {
      name: 'data that is not bytes',
      snapshot: { data: 'state', metadata: { index: 5, term: 1, confState: { voters, learners: [] } } },
      actual: 'accepted and handed to the host in Ready.snapshot',
    },
    {
      name: 'a term after the message term',
      snapshot: { data: new Uint8Array(), metadata: { index: 5, term: 9, confState: { voters, learners: [] } } },
      actual: 'accepted: the node at term 2 now has a last log term of 9',
    },
  ];
  for (const c of cases) {
    test(`refuses a MsgSnap whose snapshot has ${c.name} with RAFT_INVALID_MESSAGE, changing nothing`, () => {
      const node = new RawNode({ id: '1', storage: new MemoryStorage({ voters, learners: [] }), checkQuorum: false, preVote: false });
      const before = node.status();
      const m = message({ type: MessageType.MsgSnap, from: '2', to: '1', term: 2, snapshot: c.snapshot as Snapshot });
      assert.throws(() => node.step(m), (e: unknown) => isRaftError(e, 'RAFT_INVALID_MESSAGE'), `actual: ${c.actual}`);
      assert.deepEqual(node.status(), before);
      assert.equal(node.hasReady(), false);
    });
  }
});
