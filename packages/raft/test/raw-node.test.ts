// RawNode (raw-node.ts): the contract a host relies on. ready() and advance()
// alternate; step() refuses what must never come from the network, and a
// refusal changes nothing; proposals and reads without a leader are refused
// with a code; a single node leads and commits on its own; hard state and
// mustSync say what to persist and when to fsync; the same inputs and seed
// give the same Readies; and what a Ready hands out is the host's to keep.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { RaftConfig } from '../src/config.ts';
import { describeReady } from '../src/describe.ts';
import { InvariantError, RaftError, isRaftError, type RaftErrorCode } from '../src/errors.ts';
import { seededRandom } from '../src/random.ts';
import { RawNode } from '../src/raw-node.ts';
import { MemoryStorage } from '../src/storage.ts';
import { EntryType, MessageType, StateType, message, type Entry, type Message, type Ready } from '../src/types.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Member {
  node: RawNode;
  storage: MemoryStorage;
}

function member(id: string, voters: string[], config: Partial<RaftConfig> = {}): Member {
  const storage = new MemoryStorage({ voters, learners: [] });
  const node = new RawNode({ id, storage, checkQuorum: false, preVote: false, random: seededRandom(7), ...config });
  return { node, storage };
}

/** Persists and acknowledges one Ready the way a host must; returns it. */
function handle(m: Member): Ready {
  const rd = m.node.ready();
  if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
  m.storage.append(rd.entries);
  if (rd.hardState) m.storage.setHardState(rd.hardState);
  m.node.advance();
  return rd;
}

/** Handles Readies until there are none; returns them. */
function drain(m: Member): Ready[] {
  const out: Ready[] = [];
  while (m.node.hasReady()) out.push(handle(m));
  return out;
}

function ids(es: readonly Entry[]): string[] {
  return es.map((e) => `${e.index}/${e.term}`);
}

function throwsCode(fn: () => unknown, code: RaftErrorCode): void {
  assert.throws(fn, (e: unknown) => isRaftError(e, code), `expected ${code}`);
}

/** A three-member cluster where 1 leads at term 1 and everyone has the leader's no-op. */
function threeWithLeader(config: Partial<RaftConfig> = {}): Map<string, Member> {
  const voters = ['1', '2', '3'];
  const ms = new Map(voters.map((id) => [id, member(id, voters, config)] as const));
  ms.get('1')!.node.campaign();
  exchange(ms);
  assert.equal(ms.get('1')!.node.status().raftState, StateType.Leader);
  return ms;
}

/** Moves messages between members until quiet. */
function exchange(ms: Map<string, Member>, drop: (m: Message) => boolean = () => false): void {
  for (let round = 0; round < 100; round++) {
    const msgs: Message[] = [];
    for (const m of ms.values()) for (const rd of drain(m)) msgs.push(...rd.messages);
    if (msgs.length === 0) return;
    for (const msg of msgs) if (!drop(msg)) ms.get(msg.to)?.node.step(msg);
  }
  throw new Error('no quiet after 100 rounds');
}

describe('RawNode ready/advance', () => {
  test('a fresh node has nothing to hand out', () => {
    const { node } = member('1', ['1', '2', '3']);
    assert.equal(node.hasReady(), false);
  });

  test('calling ready() twice without advance() throws InvariantError', () => {
    const { node } = member('1', ['1', '2', '3']);
    node.campaign();
    node.ready();
    assert.throws(() => node.ready(), InvariantError);
  });

  test('calling advance() without ready() throws InvariantError', () => {
    const { node } = member('1', ['1']);
    assert.throws(() => node.advance(), InvariantError);
    node.campaign();
    node.ready();
    node.advance();
    assert.throws(() => node.advance(), InvariantError);
  });

  test('after advance() nothing handed out is handed out again', () => {
    const m = member('1', ['1']);
    m.node.campaign();
    const first = handle(m);
    assert.ok(first.entries.length > 0);
    // Persisting the leader's entry lets it commit: one more Ready applies it.
    const second = handle(m);
    assert.deepEqual(second.entries, []);
    assert.deepEqual(ids(second.committedEntries), ids(first.entries));
    assert.equal(m.node.hasReady(), false);
  });

  test('work that arrives between ready() and advance() comes out in the next Ready', () => {
    const m = member('1', ['1']);
    m.node.campaign();
    handle(m);
    handle(m);
    m.node.propose(enc('a'));
    const rd = m.node.ready();
    m.node.propose(enc('b'));
    m.storage.append(rd.entries);
    if (rd.hardState) m.storage.setHardState(rd.hardState);
    m.node.advance();
    const next = handle(m);
    assert.deepEqual(next.entries.map((e) => dec(e.data)), ['b']);
    assert.deepEqual(next.committedEntries.map((e) => dec(e.data)), ['a'], "'a' was persisted by the last Ready, 'b' only by this one");
    assert.deepEqual(handle(m).committedEntries.map((e) => dec(e.data)), ['b']);
  });
});

describe('RawNode.step refusals', () => {
  const localTypes = [
    MessageType.MsgHup,
    MessageType.MsgBeat,
    MessageType.MsgUnreachable,
    MessageType.MsgSnapStatus,
    MessageType.MsgCheckQuorum,
  ];
  for (const type of localTypes) {
    test(`refuses a ${MessageType[type]} from the network with RAFT_STEP_LOCAL_MESSAGE`, () => {
      const { node } = member('1', ['1', '2', '3']);
      throwsCode(() => node.step(message({ type, from: '2', to: '1', term: 5 })), 'RAFT_STEP_LOCAL_MESSAGE');
      assert.equal(node.status().term, 0);
      assert.equal(node.hasReady(), false);
    });
  }

  const malformed: { name: string; msg: () => Message }[] = [
    { name: 'an unknown type', msg: () => message({ type: 99 as MessageType, from: '2', to: '1', term: 5 }) },
    { name: 'an empty from', msg: () => message({ type: MessageType.MsgHeartbeat, from: '', to: '1', term: 5 }) },
    { name: 'a negative term', msg: () => message({ type: MessageType.MsgHeartbeat, from: '2', to: '1', term: -1 }) },
    { name: 'a fractional index', msg: () => message({ type: MessageType.MsgApp, from: '2', to: '1', term: 5, index: 0.5 }) },
    { name: 'a non-boolean reject', msg: () => ({ ...message({ type: MessageType.MsgAppResp, from: '2', to: '1', term: 5 }), reject: 1 as unknown as boolean }) },
    { name: 'entries that are not an array', msg: () => ({ ...message({ type: MessageType.MsgApp, from: '2', to: '1', term: 5 }), entries: {} as unknown as Entry[] }) },
    {
      name: 'non-contiguous MsgApp entries',
      msg: () =>
        message({
          type: MessageType.MsgApp,
          from: '2',
          to: '1',
          term: 5,
          entries: [
            { term: 5, index: 1, type: EntryType.Normal, data: new Uint8Array() },
            { term: 5, index: 3, type: EntryType.Normal, data: new Uint8Array() },
          ],
        }),
    },
    {
      name: 'a MsgApp entry from a term after the message',
      msg: () =>
        message({ type: MessageType.MsgApp, from: '2', to: '1', term: 5, entries: [{ term: 6, index: 1, type: EntryType.Normal, data: new Uint8Array() }] }),
    },
    {
      name: 'an entry whose data is not bytes',
      msg: () =>
        message({ type: MessageType.MsgApp, from: '2', to: '1', term: 5, entries: [{ term: 5, index: 1, type: EntryType.Normal, data: 'x' as unknown as Uint8Array }] }),
    },
    {
      name: 'an entry of an unknown type',
      msg: () =>
        message({ type: MessageType.MsgApp, from: '2', to: '1', term: 5, entries: [{ term: 5, index: 1, type: 7 as EntryType, data: new Uint8Array() }] }),
    },
    { name: 'a context that is not bytes', msg: () => ({ ...message({ type: MessageType.MsgHeartbeat, from: '2', to: '1', term: 5 }), context: 'abc' as unknown as Uint8Array }) },
    { name: 'a MsgSnap without a snapshot', msg: () => message({ type: MessageType.MsgSnap, from: '2', to: '1', term: 5 }) },
  ];
  for (const c of malformed) {
    test(`refuses a message with ${c.name} with RAFT_INVALID_MESSAGE, changing nothing`, () => {
      const { node } = member('1', ['1', '2', '3']);
      const before = node.status();
      throwsCode(() => node.step(c.msg()), 'RAFT_INVALID_MESSAGE');
      assert.deepEqual(node.status(), before, 'the higher term in the message was not taken');
      assert.equal(node.hasReady(), false);
    });
  }

  for (const type of [MessageType.MsgAppResp, MessageType.MsgVoteResp, MessageType.MsgHeartbeatResp, MessageType.MsgPreVoteResp]) {
    test(`refuses a ${MessageType[type]} from a peer outside the membership with RAFT_STEP_PEER_NOT_FOUND, changing nothing`, () => {
      const { node } = member('1', ['1', '2', '3']);
      throwsCode(() => node.step(message({ type, from: '9', to: '1', term: 5 })), 'RAFT_STEP_PEER_NOT_FOUND');
      assert.equal(node.status().term, 0);
      assert.equal(node.hasReady(), false);
    });
  }

  test('accepts a request (not a response) from a peer outside the membership', () => {
    const m = member('1', ['1', '2', '3']);
    m.node.step(message({ type: MessageType.MsgHeartbeat, from: '9', to: '1', term: 2 }));
    assert.equal(m.node.status().term, 2);
    assert.equal(m.node.status().lead, '9');
  });
});

describe('RawNode without a leader', () => {
  test('propose on a follower with no leader throws RAFT_NO_LEADER', () => {
    const { node } = member('1', ['1', '2', '3']);
    throwsCode(() => node.propose(enc('x')), 'RAFT_NO_LEADER');
    assert.equal(node.status().lastIndex, 0);
  });

  test('propose on a candidate throws RAFT_NO_LEADER', () => {
    const m = member('1', ['1', '2', '3']);
    m.node.campaign();
    drain(m);
    throwsCode(() => m.node.propose(enc('x')), 'RAFT_NO_LEADER');
    throwsCode(() => m.node.proposeBatch([enc('x'), enc('y')]), 'RAFT_NO_LEADER');
  });

  test('readIndex on a follower with no leader throws RAFT_NO_LEADER', () => {
    const { node } = member('1', ['1', '2', '3']);
    throwsCode(() => node.readIndex(enc('r1')), 'RAFT_NO_LEADER');
  });

  test('readIndex on a candidate throws RAFT_NO_LEADER', () => {
    const m = member('1', ['1', '2', '3']);
    m.node.campaign();
    drain(m);
    throwsCode(() => m.node.readIndex(enc('r1')), 'RAFT_NO_LEADER');
  });

  test('propose on a follower with forwarding disabled throws RAFT_NOT_LEADER even with a leader', () => {
    const ms = threeWithLeader({ disableProposalForwarding: true });
    throwsCode(() => ms.get('2')!.node.propose(enc('x')), 'RAFT_NOT_LEADER');
  });

  test('propose on a follower with a leader forwards a MsgProp to the leader', () => {
    const ms = threeWithLeader();
    const f = ms.get('2')!;
    f.node.propose(enc('x'));
    const rd = handle(f);
    assert.equal(rd.messages.length, 1);
    assert.equal(rd.messages[0].type, MessageType.MsgProp);
    assert.equal(rd.messages[0].to, '1');
    assert.equal(dec(rd.messages[0].entries[0].data), 'x');
  });
});

describe('RawNode single-node cluster', () => {
  for (const preVote of [false, true]) {
    test(`elects itself on campaign() in one Ready, and commits its no-op once persisted (preVote ${preVote})`, () => {
      const m = member('1', ['1'], { preVote });
      m.node.campaign();
      const rd = handle(m);
      assert.deepEqual(rd.softState, { lead: '1', raftState: StateType.Leader });
      assert.deepEqual(rd.hardState, { term: 1, vote: '1', commit: 0 });
      assert.deepEqual(ids(rd.entries), ['1/1']);
      assert.deepEqual(ids(rd.committedEntries), []);
      assert.deepEqual(rd.messages, []);
      assert.equal(rd.mustSync, true);
      const next = handle(m);
      assert.deepEqual(next.hardState, { term: 1, vote: '1', commit: 1 });
      assert.deepEqual(ids(next.committedEntries), ['1/1']);
      assert.equal(m.node.hasReady(), false);
    });
  }

  test('commits a proposal in the Ready after the one that persists it: the leader counts only its durable copy', () => {
    const m = member('1', ['1']);
    m.node.campaign();
    handle(m);
    handle(m);
    m.node.propose(enc('hello'));
    const rd = handle(m);
    assert.deepEqual(ids(rd.entries), ['2/1']);
    assert.deepEqual(rd.committedEntries, [], 'not durable anywhere yet');
    assert.equal(rd.mustSync, true);
    const next = handle(m);
    assert.deepEqual(next.committedEntries.map((e) => dec(e.data)), ['hello']);
    assert.deepEqual(next.hardState, { term: 1, vote: '1', commit: 2 });
    assert.equal(m.node.status().applied, 2);
  });

  test('batches several proposals into one Ready', () => {
    const m = member('1', ['1']);
    m.node.campaign();
    handle(m);
    handle(m);
    m.node.propose(enc('a'));
    m.node.proposeBatch([enc('b'), enc('c')]);
    const rd = handle(m);
    assert.deepEqual(rd.entries.map((e) => dec(e.data)), ['a', 'b', 'c']);
    assert.deepEqual(handle(m).committedEntries.map((e) => dec(e.data)), ['a', 'b', 'c']);
  });

  test('answers a read at once with the commit index', () => {
    const m = member('1', ['1']);
    m.node.campaign();
    handle(m);
    m.node.readIndex(enc('r1'));
    const rd = handle(m);
    assert.deepEqual(rd.readStates.map((r) => [r.index, dec(r.requestCtx)]), [[1, 'r1']]);
  });

  test('campaigns by itself after an election timeout of ticks', () => {
    const m = member('1', ['1'], { electionTick: 5 });
    for (let i = 0; i < 10 && m.node.status().raftState !== StateType.Leader; i++) m.node.tick();
    assert.equal(m.node.status().raftState, StateType.Leader);
  });
});

describe('RawNode hard state and mustSync', () => {
  test('a campaign hands out the new term and self-vote, with mustSync, before the vote requests go out', () => {
    const m = member('1', ['1', '2', '3']);
    m.node.campaign();
    const rd = handle(m);
    assert.deepEqual(rd.softState, { lead: '', raftState: StateType.Candidate });
    assert.deepEqual(rd.hardState, { term: 1, vote: '1', commit: 0 });
    assert.equal(rd.mustSync, true);
    assert.deepEqual(rd.entries, []);
    assert.deepEqual(rd.messages.map((x) => `${x.to} ${MessageType[x.type]} ${x.term}`), ['2 MsgVote 1', '3 MsgVote 1']);
  });

  test('granting a vote hands out the vote with mustSync in the same Ready as the response', () => {
    const m = member('2', ['1', '2', '3']);
    m.node.step(message({ type: MessageType.MsgVote, from: '1', to: '2', term: 1 }));
    const rd = handle(m);
    assert.deepEqual(rd.hardState, { term: 1, vote: '1', commit: 0 });
    assert.equal(rd.mustSync, true);
    assert.deepEqual(rd.messages.map((x) => [MessageType[x.type], x.reject]), [['MsgVoteResp', false]]);
  });

  test('a change of commit alone hands out a hard state without mustSync', () => {
    const f = member('2', ['1', '2', '3']);
    f.node.step(
      message({
        type: MessageType.MsgApp,
        from: '1',
        to: '2',
        term: 1,
        entries: [{ term: 1, index: 1, type: EntryType.Normal, data: enc('x') }],
      }),
    );
    const first = handle(f);
    assert.deepEqual(first.hardState, { term: 1, vote: '', commit: 0 });
    assert.equal(first.mustSync, true);
    f.node.step(message({ type: MessageType.MsgHeartbeat, from: '1', to: '2', term: 1, commit: 1 }));
    const rd = handle(f);
    assert.deepEqual(rd.hardState, { term: 1, vote: '', commit: 1 });
    assert.deepEqual(rd.entries, []);
    assert.equal(rd.mustSync, false);
    assert.deepEqual(rd.committedEntries.map((e) => dec(e.data)), ['x']);
  });

  test('new entries need mustSync even when the hard state is unchanged', () => {
    const ms = threeWithLeader();
    const f = ms.get('2')!;
    f.node.step(
      message({
        type: MessageType.MsgApp,
        from: '1',
        to: '2',
        term: 1,
        index: 1,
        logTerm: 1,
        commit: 1,
        entries: [{ term: 1, index: 2, type: EntryType.Normal, data: enc('y') }],
      }),
    );
    const rd = handle(f);
    assert.equal(rd.hardState, undefined);
    assert.deepEqual(ids(rd.entries), ['2/1']);
    assert.equal(rd.mustSync, true);
  });

  test('a node restarted from storage hands out no hard state it already has', () => {
    const storage = new MemoryStorage({ voters: ['1', '2', '3'], learners: [] });
    storage.append([{ term: 3, index: 1, type: EntryType.Normal, data: new Uint8Array() }]);
    storage.setHardState({ term: 5, vote: '2', commit: 1 });
    const node = new RawNode({ id: '1', storage, applied: 1 });
    assert.equal(node.hasReady(), false);
    assert.deepEqual(
      [node.status().term, node.status().vote, node.status().commit, node.status().applied],
      [5, '2', 1, 1],
    );
  });

  test('a restarted node hands out committed entries it had not applied, without mustSync', () => {
    const storage = new MemoryStorage({ voters: ['1', '2', '3'], learners: [] });
    storage.append([
      { term: 1, index: 1, type: EntryType.Normal, data: enc('a') },
      { term: 1, index: 2, type: EntryType.Normal, data: enc('b') },
    ]);
    storage.setHardState({ term: 1, vote: '1', commit: 2 });
    const m: Member = { storage, node: new RawNode({ id: '1', storage, applied: 1 }) };
    const rd = handle(m);
    assert.deepEqual(rd.committedEntries.map((e) => dec(e.data)), ['b']);
    assert.equal(rd.hardState, undefined);
    assert.equal(rd.mustSync, false);
  });
});

describe('RawNode determinism', () => {
  /** A scripted run on three nodes with pre-vote and check-quorum on: ticks, an election, proposals, a read. */
  function run(seed: number): string[] {
    const voters = ['1', '2', '3'];
    const ms = new Map(
      voters.map((id) => [
        id,
        member(id, voters, { preVote: true, checkQuorum: true, random: seededRandom(seed * 31 + Number(id)) }),
      ] as const),
    );
    const transcript: string[] = [];
    const pending: Message[] = [];
    const record = (id: string): void => {
      const m = ms.get(id)!;
      while (m.node.hasReady()) {
        const rd = handle(m);
        transcript.push(`${id}: ${describeReady(rd)}`);
        pending.push(...rd.messages);
      }
    };
    for (let t = 0; t < 60; t++) {
      for (const id of voters) {
        ms.get(id)!.node.tick();
        record(id);
      }
      while (pending.length > 0) {
        const msg = pending.shift()!;
        ms.get(msg.to)!.node.step(msg);
        record(msg.to);
      }
      if (t % 7 === 3) {
        for (const id of voters) {
          if (ms.get(id)!.node.status().raftState === StateType.Leader) {
            ms.get(id)!.node.propose(enc(`p${t}`));
            ms.get(id)!.node.readIndex(enc(`r${t}`));
            record(id);
          }
        }
      }
    }
    return transcript;
  }

  test('two runs with the same seed produce identical Ready sequences', () => {
    const a = run(42);
    const b = run(42);
    assert.ok(a.some((line) => line.includes('StateLeader')), 'the run elected a leader');
    assert.ok(a.some((line) => line.includes('"p')), 'the run committed proposals');
    assert.deepEqual(a, b);
  });

  test('the seed is what decides the election jitter', () => {
    const runs = [1, 2, 3, 4, 5].map((s) => run(s).join('\n'));
    assert.ok(new Set(runs).size > 1, 'different seeds give some different transcripts');
  });
});

describe('RawNode hands out arrays it does not keep', () => {
  test('mutating a Ready\'s entries, committedEntries and messages does not affect the node', () => {
    const ms = threeWithLeader();
    const leader = ms.get('1')!;
    leader.node.propose(enc('x'));
    const rd = leader.node.ready();
    const entries = rd.entries as Entry[];
    const committed = rd.committedEntries as Entry[];
    const messages = rd.messages as Message[];
    const wantEntries = ids(entries);
    assert.deepEqual(wantEntries, ['2/1']);
    const app = messages.find((x) => x.type === MessageType.MsgApp)!;
    const appEntries = ids(app.entries);
    // The host persists a copy, then scribbles on everything it was given.
    leader.storage.append([...entries]);
    entries.length = 0;
    entries.push({ term: 9, index: 9, type: EntryType.Normal, data: new Uint8Array() });
    committed.push({ term: 9, index: 9, type: EntryType.Normal, data: new Uint8Array() });
    app.entries.length = 0;
    messages.length = 0;
    leader.node.advance();

    assert.equal(leader.node.status().lastIndex, 2);
    assert.deepEqual(appEntries, ['2/1']);
    // The leader resends from its own log when the follower asks again.
    leader.node.reportUnreachable('2');
    leader.node.step(message({ type: MessageType.MsgHeartbeatResp, from: '2', to: '1', term: 1 }));
    const again = handle(leader);
    const resend = again.messages.find((x) => x.type === MessageType.MsgApp && x.to === '2');
    assert.ok(resend, 'a new MsgApp to 2');
    assert.deepEqual(ids(resend.entries), ['2/1']);
  });

  test('each Ready has its own arrays', () => {
    const m = member('1', ['1']);
    m.node.campaign();
    const a = handle(m);
    m.node.propose(enc('x'));
    const b = handle(m);
    assert.notEqual(a.entries, b.entries);
    assert.notEqual(a.committedEntries, b.committedEntries);
    assert.notEqual(a.messages, b.messages);
  });

  test('mutating a Ready\'s readStates does not lose or repeat reads', () => {
    const m = member('1', ['1']);
    m.node.campaign();
    handle(m);
    m.node.readIndex(enc('a'));
    const rd = handle(m);
    (rd.readStates as { index: number; requestCtx: Uint8Array }[]).length = 0;
    m.node.readIndex(enc('b'));
    const next = handle(m);
    assert.deepEqual(next.readStates.map((r) => dec(r.requestCtx)), ['b']);
  });

  test('the core does not mutate a message it is stepped (frozen messages are accepted)', () => {
    const m = member('2', ['1', '2', '3']);
    const deepFreeze = (msg: Message): Message => {
      for (const e of msg.entries) Object.freeze(e);
      Object.freeze(msg.entries);
      return Object.freeze(msg);
    };
    m.node.step(deepFreeze(message({ type: MessageType.MsgVote, from: '1', to: '2', term: 1 })));
    m.node.step(
      deepFreeze(
        message({
          type: MessageType.MsgApp,
          from: '1',
          to: '2',
          term: 1,
          index: 0,
          logTerm: 0,
          commit: 1,
          entries: [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array() }],
        }),
      ),
    );
    m.node.propose(enc('fwd'));
    const rd = handle(m);
    assert.deepEqual(ids(rd.entries), ['1/1']);
    assert.deepEqual(
      rd.messages.map((x) => MessageType[x.type]),
      ['MsgVoteResp', 'MsgAppResp', 'MsgProp'],
    );
  });
});

describe('RawNode errors', () => {
  test('RaftError and InvariantError keep instanceof through their Symbol.for brand', () => {
    const e = new RaftError('RAFT_COMPACTED', 'x');
    const lookalike = Object.assign(Object.create(Error.prototype), { [Symbol.for('kv.raft.RaftError')]: true });
    assert.ok(lookalike instanceof RaftError);
    assert.ok(e instanceof RaftError);
    assert.ok(!(e instanceof InvariantError));
    assert.ok(new InvariantError('y') instanceof InvariantError);
    assert.equal(new InvariantError('y').code, 'RAFT_INVARIANT');
  });
});
