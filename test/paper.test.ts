// One case per claim of the Raft paper (Ongaro & Ousterhout, "In Search of an
// Understandable Consensus Algorithm", extended version), each naming its
// section, acted out on RawNode instances moved by hand (test/helpers/
// paper-net.ts). Nodes run the paper's base algorithm (checkQuorum and preVote
// off) unless a case says otherwise; logs are set up in MemoryStorage before
// each RawNode starts, as if the node had restarted with them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import fc from 'fast-check';

import { StateType, type MemoryStorage, type Message } from '../packages/raft/src/index.ts';
import { MessageType, NONE, isDriverMessage, message } from '../packages/raft/src/types.ts';
import { PaperNet, and, decode, from, not, ofType, or, to, type MessagePredicate, type NodeSetup } from './helpers/paper-net.ts';

const ids3 = ['1', '2', '3'];
const ids5 = ['1', '2', '3', '4', '5'];

/** A cluster where node 1 won the election at term 1 and everyone has its no-op. */
function withLeader(ids: string[] = ids3, config = {}): PaperNet {
  const net = new PaperNet(ids, {}, config);
  net.campaign('1');
  net.stabilize();
  assert.equal(net.status('1').raftState, StateType.Leader);
  return net;
}

/** Delivers queued messages matching `pred` until none is left; the rest stay queued. */
function deliverWhile(net: PaperNet, pred: MessagePredicate): void {
  for (let i = 0; i < 200 && net.queue.some(pred); i++) net.deliver(pred);
}

/** `rounds` heartbeat intervals on a healthy network: every live node ticks, then everything is delivered. */
function healthyRounds(net: PaperNet, rounds: number): void {
  for (let i = 0; i < rounds; i++) {
    for (const n of net.nodes.values()) if (!n.down) net.tick(n.id);
    net.stabilize();
  }
}

const hasEntryOfTerm = (t: number): MessagePredicate => (m) => m.entries.some((e) => e.term === t);
const describeMsgs = (ms: readonly Message[]): string[] =>
  ms.map((m) => `${m.from}->${m.to} ${MessageType[m.type]} t${m.term}${m.reject ? ' reject' : ''}`);

describe('§5.1 Raft basics: terms', () => {
  type Role = 'follower' | 'candidate' | 'leader';
  /** Node 1 in the given role; every node starts with 1/1 in its log at term 1. */
  function nodeAs(role: Role): { net: PaperNet; term: number; last: { index: number; term: number } } {
    const setups: Record<string, NodeSetup> = Object.fromEntries(ids3.map((id) => [id, { log: [1], term: 1 }]));
    const net = new PaperNet(ids3, setups);
    if (role === 'candidate') {
      net.campaign('1');
      net.queue = [];
    } else if (role === 'leader') {
      net.campaign('1');
      net.stabilize();
    }
    const st = net.status('1');
    return { net, term: st.term, last: { index: st.lastIndex, term: role === 'leader' ? st.term : 1 } };
  }

  const higher: { type: MessageType; lead: (sender: string) => string; extra?: Partial<Message> }[] = [
    { type: MessageType.MsgApp, lead: (s) => s, extra: { index: 1, logTerm: 1 } },
    { type: MessageType.MsgHeartbeat, lead: (s) => s },
    { type: MessageType.MsgVote, lead: () => NONE },
    { type: MessageType.MsgAppResp, lead: () => NONE },
    { type: MessageType.MsgHeartbeatResp, lead: () => NONE },
    { type: MessageType.MsgVoteResp, lead: () => NONE, extra: { reject: true } },
  ];
  for (const role of ['follower', 'candidate', 'leader'] as const) {
    for (const c of higher) {
      test(`§5.1 a ${role} that sees a higher term in a ${MessageType[c.type]} takes the term and becomes follower`, () => {
        const { net, term, last } = nodeAs(role);
        const m = message({ type: c.type, from: '3', to: '1', term: term + 1, ...c.extra });
        if (c.type === MessageType.MsgVote) Object.assign(m, { index: last.index, logTerm: last.term });
        net.get('1').node.step(m);
        const st = net.status('1');
        assert.equal(st.raftState, StateType.Follower);
        assert.equal(st.term, term + 1);
        assert.equal(st.lead, c.lead('3'));
      });
    }
  }

  /** Node 1 at term 3 with log 1/1 2/3, commit 1, having voted for 2. */
  function atTerm3(config = {}): PaperNet {
    const net = new PaperNet(ids3, { '1': { log: [1, 3], term: 3, vote: '2', commit: 1 } }, config);
    net.flush(); // applies 1/1
    return net;
  }
  const stale: { name: string; msg: Message }[] = [
    {
      name: 'an AppendEntries',
      msg: message({
        type: MessageType.MsgApp,
        from: '2',
        to: '1',
        term: 2,
        index: 1,
        logTerm: 1,
        commit: 2,
        entries: [{ term: 2, index: 2, type: 0, data: new Uint8Array() }],
      }),
    },
    { name: 'a heartbeat', msg: message({ type: MessageType.MsgHeartbeat, from: '2', to: '1', term: 2, commit: 2 }) },
    { name: 'a RequestVote', msg: message({ type: MessageType.MsgVote, from: '3', to: '1', term: 2, index: 9, logTerm: 2 }) },
    {
      name: 'an InstallSnapshot',
      msg: message({
        type: MessageType.MsgSnap,
        from: '2',
        to: '1',
        term: 2,
        snapshot: { data: new Uint8Array(), metadata: { index: 10, term: 2, confState: { voters: ids3, learners: [] } } },
      }),
    },
  ];
  for (const c of stale) {
    test(`§5.1 a node rejects ${c.name} with a stale term: nothing changes and nothing is granted`, () => {
      const net = atTerm3();
      const before = net.status('1');
      const logBefore = net.log('1');
      net.get('1').node.step(c.msg);
      const sent = net.flush('1');
      assert.deepEqual(net.status('1'), before);
      assert.deepEqual(net.log('1'), logBefore);
      for (const m of sent) {
        assert.equal(m.term, 3, `any answer carries the current term: ${describeMsgs([m])}`);
        assert.notEqual(m.type === MessageType.MsgVoteResp && !m.reject, true, 'no vote granted');
      }
    });
  }

  test('§5.1 a stale leader is told the current term in the answer to its AppendEntries (with pre-vote on)', () => {
    const net = atTerm3({ preVote: true });
    net.get('1').node.step(stale[0].msg);
    const sent = net.flush('1');
    assert.deepEqual(describeMsgs(sent), ['1->2 MsgAppResp t3']);
  });

  test('§5.1 a leader cut off while others elect a new one steps down when it hears the newer term, and its stale entry is replaced', () => {
    const net = withLeader();
    const cutOff = or(from('1'), to('1'));
    net.tick('1'); // a heartbeat, lost
    net.drop(cutOff);
    net.get('1').node.propose(new TextEncoder().encode('stale'));
    net.flush('1');
    net.drop(cutOff);
    net.campaign('2');
    net.stabilize({ drop: cutOff });
    assert.equal(net.status('2').raftState, StateType.Leader);
    assert.equal(net.status('2').term, 2);
    assert.equal(net.status('1').raftState, StateType.Leader, 'still believes it leads at term 1');
    net.tick('2');
    net.stabilize();
    assert.equal(net.status('1').raftState, StateType.Follower);
    assert.equal(net.status('1').term, 2);
    assert.equal(net.status('1').lead, '2');
    assert.deepEqual(net.log('1'), net.log('2'));
    for (const id of ids3) assert.ok(!net.get(id).applied.some((e) => decode(e.data) === 'stale'), `${id} never applied it`);
  });

  test('§5.1 (Figure 2, persistent state) a restarted node keeps its current term and vote', () => {
    const net = new PaperNet(ids3);
    net.get('3').node.step(message({ type: MessageType.MsgVote, from: '1', to: '3', term: 4 }));
    net.flush('3');
    net.restart('3');
    assert.equal(net.status('3').term, 4);
    assert.equal(net.status('3').vote, '1');
  });
});

describe('§5.2 Leader election', () => {
  test('§5.2 a follower that hears from no leader for an election timeout becomes candidate: new term, votes for itself, asks every other node', () => {
    const net = new PaperNet(ids3, { '1': { log: [1, 1], term: 1 } });
    for (let i = 0; i < 40 && net.status('1').raftState === StateType.Follower; i++) net.tick('1');
    const n = net.get('1');
    const rd = n.readies.find((r) => r.softState?.raftState === StateType.Candidate);
    assert.ok(rd, 'became candidate');
    assert.deepEqual(rd.hardState, { term: 2, vote: '1', commit: 0 });
    assert.deepEqual(
      rd.messages.map((m) => `${m.to} ${MessageType[m.type]} t${m.term} last ${m.index}/${m.logTerm}`),
      ['2 MsgVote t2 last 2/1', '3 MsgVote t2 last 2/1'],
    );
  });

  const wins: { size: number; granted: number; want: StateType }[] = [
    { size: 1, granted: 0, want: StateType.Leader },
    { size: 3, granted: 1, want: StateType.Leader },
    { size: 3, granted: 0, want: StateType.Candidate },
    { size: 5, granted: 2, want: StateType.Leader },
    { size: 5, granted: 1, want: StateType.Candidate },
    { size: 5, granted: 4, want: StateType.Leader },
  ];
  for (const c of wins) {
    test(`§5.2 a candidate in a cluster of ${c.size} with ${c.granted} other vote(s) ${c.want === StateType.Leader ? 'wins' : 'keeps waiting'} (a majority is needed)`, () => {
      const ids = ids5.slice(0, c.size);
      const net = new PaperNet(ids);
      net.campaign('1');
      const voters = new Set(ids.slice(1, 1 + c.granted));
      net.stabilize({ drop: (m) => m.type === MessageType.MsgVote && !voters.has(m.to) });
      assert.equal(net.status('1').raftState, c.want);
    });
  }

  test('§5.2 a node votes for at most one candidate per term, first come first served', () => {
    const net = new PaperNet(ids3);
    const voter = net.get('3').node;
    voter.step(message({ type: MessageType.MsgVote, from: '1', to: '3', term: 1 }));
    voter.step(message({ type: MessageType.MsgVote, from: '2', to: '3', term: 1 }));
    const sent = net.flush('3');
    assert.deepEqual(describeMsgs(sent), ['3->1 MsgVoteResp t1', '3->2 MsgVoteResp t1 reject']);
    assert.equal(net.status('3').vote, '1');
  });

  test('§5.2 a node votes again in a new term', () => {
    const net = new PaperNet(ids3);
    const voter = net.get('3').node;
    voter.step(message({ type: MessageType.MsgVote, from: '1', to: '3', term: 1 }));
    voter.step(message({ type: MessageType.MsgVote, from: '2', to: '3', term: 2 }));
    assert.deepEqual(describeMsgs(net.flush('3')), ['3->1 MsgVoteResp t1', '3->2 MsgVoteResp t2']);
  });

  test('§5.2 a vote survives a restart: the node does not vote twice in the term', () => {
    const net = new PaperNet(ids3);
    net.get('3').node.step(message({ type: MessageType.MsgVote, from: '1', to: '3', term: 1 }));
    net.flush('3');
    net.restart('3');
    net.get('3').node.step(message({ type: MessageType.MsgVote, from: '2', to: '3', term: 1 }));
    assert.deepEqual(describeMsgs(net.flush('3')), ['3->2 MsgVoteResp t1 reject']);
  });

  test('§5.2 a candidate that receives AppendEntries from a leader of its own term steps down to follower', () => {
    const net = new PaperNet(ids3);
    net.campaign('1');
    net.queue = [];
    net.get('1').node.step(message({ type: MessageType.MsgApp, from: '2', to: '1', term: 1 }));
    const st = net.status('1');
    assert.equal(st.raftState, StateType.Follower);
    assert.equal(st.term, 1);
    assert.equal(st.lead, '2');
  });

  test('§5.2 a candidate whose election times out (split vote) starts a new election at a higher term', () => {
    const net = new PaperNet(ids3);
    net.campaign('1');
    net.queue = [];
    for (let i = 0; i < 40 && net.status('1').term === 1; i++) {
      net.tick('1');
      if (net.status('1').term === 1) net.queue = [];
    }
    assert.equal(net.status('1').raftState, StateType.Candidate);
    assert.equal(net.status('1').term, 2);
    assert.deepEqual(describeMsgs(net.queue), ['1->2 MsgVote t2', '1->3 MsgVote t2']);
  });

  test('§5.2 randomized election timeouts: each lies in [T, 2T) and they differ between nodes', () => {
    const T = 10;
    const all = new Set<number>();
    for (let seed = 1; seed <= 20; seed++) {
      const net = new PaperNet(ids3, {}, { electionTick: T }, seed);
      const timeout = new Map<string, number>();
      for (let tick = 1; tick < 2 * T && timeout.size < ids3.length; tick++) {
        for (const id of ids3) {
          if (timeout.has(id)) continue;
          net.tick(id);
          if (net.status(id).raftState === StateType.Candidate) timeout.set(id, tick);
        }
      }
      assert.equal(timeout.size, 3, `every node campaigned within 2T (seed ${seed})`);
      for (const t of timeout.values()) {
        assert.ok(t >= T && t < 2 * T, `timeout ${t} (seed ${seed})`);
        all.add(t);
      }
      assert.ok(new Set(timeout.values()).size > 1, `nodes drew different timeouts (seed ${seed}): ${[...timeout.values()]}`);
    }
    assert.ok(all.size >= 5, `spread over the range: ${[...all].sort((a, b) => a - b)}`);
  });

  test('§5.2 granting a vote restarts the election timer (Figure 2: convert to candidate only without hearing from a leader or granting a vote)', () => {
    const fixed = { intn: () => 0 }; // timeout exactly electionTick
    // 3 is already at term 1, so the vote below does not reset the timer by changing the term.
    const net = new PaperNet(ids3, { '3': { term: 1 } }, { electionTick: 10, random: fixed });
    net.tick('3', 9);
    net.get('3').node.step(message({ type: MessageType.MsgVote, from: '1', to: '3', term: 1 }));
    net.flush('3');
    net.tick('3', 9);
    assert.equal(net.status('3').raftState, StateType.Follower);
    net.tick('3', 1);
    assert.equal(net.status('3').raftState, StateType.Candidate);
  });

  test('§5.2 a leader sends heartbeats every heartbeat interval, and followers that get them never campaign', () => {
    const net = withLeader(ids3, { heartbeatTick: 2 });
    net.tick('1');
    assert.deepEqual(net.queue, [], 'no heartbeat before the interval');
    net.tick('1');
    assert.deepEqual(describeMsgs(net.queue), ['1->2 MsgHeartbeat t1', '1->3 MsgHeartbeat t1']);
    for (let t = 0; t < 100; t++) {
      for (const id of ids3) net.tick(id);
      net.stabilize();
    }
    assert.equal(net.status('1').raftState, StateType.Leader);
    for (const id of ids3) assert.equal(net.status(id).term, 1);
  });
});

describe('§5.3 Log replication', () => {
  test('§5.3 the leader appends a command to its log, then sends AppendEntries with the preceding index and term to every follower', () => {
    const net = withLeader();
    net.get('1').node.propose(new TextEncoder().encode('x'));
    const sent = net.flush('1');
    const rd = net.get('1').readies.at(-1)!;
    assert.deepEqual(rd.entries.map((e) => `${e.index}/${e.term} ${decode(e.data)}`), ['2/1 x']);
    assert.deepEqual(
      sent.map((m) => `${m.to} ${MessageType[m.type]} prev ${m.index}/${m.logTerm} [${m.entries.map((e) => `${e.index}/${e.term}`)}] commit ${m.commit}`),
      ['2 MsgApp prev 1/1 [2/1] commit 1', '3 MsgApp prev 1/1 [2/1] commit 1'],
    );
  });

  test('§5.3 an entry commits once a majority stores it, and only then does the leader apply it', () => {
    const net = withLeader(ids5);
    net.propose('1', 'x');
    const toFollower = (id: string) => (m: Message) => m.to === id || m.from === id;
    deliverWhile(net, or(toFollower('2')));
    assert.equal(net.status('1').commit, 1, '2 of 5 is not a majority');
    assert.ok(!net.get('1').applied.some((e) => decode(e.data) === 'x'));
    deliverWhile(net, or(toFollower('3')));
    assert.equal(net.status('1').commit, 2, '3 of 5 is a majority');
    assert.ok(net.get('1').applied.some((e) => decode(e.data) === 'x'));
  });

  test('§5.3 followers learn the commit index from later AppendEntries and apply the entry too', () => {
    const net = withLeader();
    net.propose('1', 'x');
    net.stabilize();
    for (const id of ids3) {
      assert.equal(net.status(id).commit, 2, `${id} commit`);
      assert.deepEqual(net.get(id).applied.map((e) => decode(e.data)), ['', 'x'], `${id} applied`);
    }
  });

  // The follower's log is 1/1 2/2 3/2 at term 2; each AppendEntries comes from leader 1.
  const consistency: { name: string; msg: Message; reject: boolean; wantLog: string[] }[] = [
    {
      name: 'appends when its log has the preceding entry with the same term',
      msg: message({ type: MessageType.MsgApp, from: '1', to: '2', term: 2, index: 3, logTerm: 2, entries: [{ term: 2, index: 4, type: 0, data: new Uint8Array() }] }),
      reject: false,
      wantLog: ['1/1', '2/2', '3/2', '4/2'],
    },
    {
      name: 'rejects when its entry at the preceding index has another term',
      msg: message({ type: MessageType.MsgApp, from: '1', to: '2', term: 2, index: 3, logTerm: 1, entries: [{ term: 2, index: 4, type: 0, data: new Uint8Array() }] }),
      reject: true,
      wantLog: ['1/1', '2/2', '3/2'],
    },
    {
      name: 'rejects when it lacks the preceding entry',
      msg: message({ type: MessageType.MsgApp, from: '1', to: '2', term: 2, index: 4, logTerm: 2, entries: [{ term: 2, index: 5, type: 0, data: new Uint8Array() }] }),
      reject: true,
      wantLog: ['1/1', '2/2', '3/2'],
    },
    {
      name: 'deletes a conflicting entry and all that follow it, then appends',
      msg: message({ type: MessageType.MsgApp, from: '1', to: '2', term: 3, index: 1, logTerm: 1, entries: [{ term: 3, index: 2, type: 0, data: new Uint8Array() }] }),
      reject: false,
      wantLog: ['1/1', '2/3'],
    },
    {
      name: 'keeps entries it already has that follow the new ones (no conflict, no truncation)',
      msg: message({ type: MessageType.MsgApp, from: '1', to: '2', term: 2, index: 1, logTerm: 1, entries: [{ term: 2, index: 2, type: 0, data: new Uint8Array() }] }),
      reject: false,
      wantLog: ['1/1', '2/2', '3/2'],
    },
  ];
  for (const c of consistency) {
    test(`§5.3 a follower ${c.name}`, () => {
      const net = new PaperNet(ids3, { '2': { log: [1, 2, 2], term: 2 } });
      net.get('2').node.step(c.msg);
      const sent = net.flush('2');
      assert.equal(sent.length, 1);
      assert.equal(sent[0].type, MessageType.MsgAppResp);
      assert.equal(sent[0].reject, c.reject);
      assert.deepEqual(net.log('2'), c.wantLog);
    });
  }

  test('§5.3 after a rejection the leader moves nextIndex back and retries until the logs match', () => {
    const net = new PaperNet(ids3, {
      '1': { log: [1, 2, 2, 2, 2], term: 2 },
      '2': { log: [1], term: 2 },
      '3': { log: [1, 2, 2, 2, 2], term: 2 },
    });
    net.campaign('1');
    net.stabilize();
    const probes = net.sent.filter((m) => m.from === '1' && m.to === '2' && m.type === MessageType.MsgApp).map((m) => m.index);
    const rejects = net.sent.filter((m) => m.from === '2' && m.type === MessageType.MsgAppResp && m.reject);
    assert.ok(rejects.length >= 1, 'the first AppendEntries was rejected');
    assert.ok(probes[1] < probes[0], `retried further back: prev indexes ${probes.join(',')}`);
    assert.deepEqual(net.log('2'), net.log('1'));
  });

  test('§5.3 the leader retries AppendEntries indefinitely: entries whose appends were lost reach the followers with later heartbeats', () => {
    const net = withLeader();
    net.propose('1', 'x');
    net.stabilize({ drop: ofType(MessageType.MsgApp) }); // every copy lost, once
    assert.equal(net.status('1').commit, 1);
    healthyRounds(net, 5);
    assert.equal(net.status('1').commit, 2);
    for (const id of ids3) assert.deepEqual(net.log(id), ['1/1', '2/1'], id);
  });

  // Figure 7: the leader's log (term 8) and six possible follower logs.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const figure7: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, followerLog] of Object.entries(figure7)) {
    test(`§5.3 (Figure 7${name}) a new leader forces the follower's log to duplicate its own, and never changes its own`, () => {
      const net = new PaperNet(ids3, {
        '1': { log: leaderLog, term: 7 },
        '2': { log: followerLog, term: 7 },
        '3': { log: leaderLog, term: 7 },
      });
      const before = net.log('1');
      net.campaign('1');
      net.stabilize();
      assert.equal(net.status('1').raftState, StateType.Leader);
      assert.equal(net.status('1').term, 8);
      assert.deepEqual(net.log('1'), [...before, '11/8'], 'the leader only appended');
      assert.deepEqual(net.log('2'), net.log('1'));
    });
  }
});

describe('§5.4 Safety', () => {
  // The voter's last entry is 3/2; the candidate asks at term 3.
  const restriction: { name: string; last: { index: number; term: number }; granted: boolean }[] = [
    { name: 'grants its vote to a candidate whose log is as up to date (same last term and index)', last: { index: 3, term: 2 }, granted: true },
    { name: 'grants its vote to a candidate with the same last term and a longer log', last: { index: 4, term: 2 }, granted: true },
    { name: 'grants its vote to a candidate with a later last term, even with a shorter log', last: { index: 1, term: 3 }, granted: true },
    { name: 'denies its vote to a candidate with the same last term and a shorter log', last: { index: 2, term: 2 }, granted: false },
    { name: 'denies its vote to a candidate with an earlier last term, even with a longer log', last: { index: 9, term: 1 }, granted: false },
  ];
  for (const c of restriction) {
    test(`§5.4.1 (election restriction) a node ${c.name}`, () => {
      const net = new PaperNet(ids3, { '2': { log: [1, 2, 2], term: 2 } });
      net.get('2').node.step(message({ type: MessageType.MsgVote, from: '1', to: '2', term: 3, index: c.last.index, logTerm: c.last.term }));
      const sent = net.flush('2');
      assert.deepEqual(describeMsgs(sent), [`2->1 MsgVoteResp t3${c.granted ? '' : ' reject'}`]);
      assert.equal(net.status('2').vote, c.granted ? '1' : NONE);
    });
  }

  test('§5.4.1 a node missing a committed entry cannot be elected; one that has it can', () => {
    const net = withLeader();
    net.propose('1', 'x');
    net.stabilize({ drop: or(to('3'), from('3')) });
    assert.equal(net.status('1').commit, 2);
    net.crash('1');
    net.campaign('3');
    net.stabilize();
    assert.notEqual(net.status('3').raftState, StateType.Leader, '2 denied its vote');
    net.campaign('2');
    net.stabilize();
    assert.equal(net.status('2').raftState, StateType.Leader);
    assert.ok(net.log('3').includes('2/1'), 'the new leader brought 3 the committed entry');
  });

  /**
   * Figure 8 (c): S1 leads at term 4 and replicates its term-2 entry to a
   * majority, holding back its own term-4 entry. S5's log ends with a term-3
   * entry at index 2.
   */
  function figure8c(): PaperNet {
    const net = new PaperNet(ids5, {
      '1': { log: [1, 2], term: 3, commit: 1, config: { maxEntriesPerMsg: 1 } },
      '2': { log: [1], term: 3, commit: 1 },
      '3': { log: [1], term: 3, commit: 1 },
      '4': { log: [1], term: 3, commit: 1 },
      '5': { log: [1, 3], term: 3, commit: 1 },
    });
    net.campaign('1');
    // Votes, then the first probes (rejected: nobody else has 1's entry 2).
    deliverWhile(net, (m) => m.type !== MessageType.MsgApp || m.index === 2);
    assert.equal(net.status('1').raftState, StateType.Leader);
    assert.equal(net.status('1').term, 4);
    // The retries carry 2/2 alone (one entry per message); 3/4 is held back; S5 hears nothing.
    deliverWhile(net, and(not(hasEntryOfTerm(4)), not(to('5'))));
    net.drop(to('5'));
    return net;
  }

  test('§5.4.2 (Figure 8c) a leader does not commit an entry from an earlier term by counting replicas, even on a majority', () => {
    const net = figure8c();
    const pr = net.status('1').progress;
    assert.deepEqual(['2', '3', '4'].map((id) => pr.get(id)!.match), [2, 2, 2], '2/2 is on S1..S4');
    assert.equal(net.status('1').commit, 1);
    assert.deepEqual(net.appliedIds('1'), ['1/1']);
  });

  test('§5.4.2 (Figure 8e) the earlier-term entry commits with the first current-term entry a majority stores', () => {
    const net = figure8c();
    deliverWhile(net, or(to('2'), to('3'), from('2'), from('3')));
    assert.equal(net.status('1').commit, 3);
    assert.deepEqual(net.appliedIds('1'), ['1/1', '2/2', '3/4']);
  });

  test('§5.4.2 (Figure 8d) why: a node whose log ends in a later term can still be elected and overwrite the majority-stored entry', () => {
    const net = figure8c();
    net.crash('1');
    net.campaign('5');
    net.stabilize();
    assert.equal(net.status('5').raftState, StateType.Leader);
    for (const id of ['2', '3', '4']) assert.equal(net.log(id)[1], '2/3', `${id}'s entry 2 was replaced`);
    for (const id of ['2', '3', '4', '5']) assert.ok(!net.appliedIds(id).includes('2/2'), `${id} never applied 2/2`);
  });
});

describe('§5.5 Follower and candidate crashes', () => {
  test('§5.5 AppendEntries is idempotent: a duplicate changes nothing and gets the same answer', () => {
    const net = withLeader();
    net.propose('1', 'x');
    const app = net.queue.find((m) => m.to === '2' && m.type === MessageType.MsgApp)!;
    net.stabilize();
    const logBefore = net.log('2');
    const statusBefore = net.status('2');
    net.get('2').node.step(app);
    const sent = net.flush('2');
    assert.deepEqual(net.log('2'), logBefore);
    assert.deepEqual(net.status('2'), statusBefore);
    assert.deepEqual(sent.map((m) => [MessageType[m.type], m.index, m.reject]), [['MsgAppResp', 2, false]]);
  });

  test('§5.5 RequestVote is idempotent: a repeated request from the same candidate is granted again', () => {
    const net = new PaperNet(ids3);
    const vote = message({ type: MessageType.MsgVote, from: '1', to: '3', term: 1 });
    net.get('3').node.step(vote);
    net.get('3').node.step(vote);
    assert.deepEqual(describeMsgs(net.flush('3')), ['3->1 MsgVoteResp t1', '3->1 MsgVoteResp t1']);
  });

  test('§5.5 a duplicated response does not move the leader\'s view backwards or commit anything new', () => {
    const net = withLeader();
    net.propose('1', 'x');
    deliverWhile(net, (m) => m.to === '2' || m.from === '2');
    const resp = net.sent.filter((m) => m.from === '2' && m.type === MessageType.MsgAppResp).at(-1)!;
    const before = net.status('1');
    net.get('1').node.step(resp);
    net.flush('1');
    assert.deepEqual(net.status('1').progress.get('2'), before.progress.get('2'));
    assert.equal(net.status('1').commit, before.commit);
  });

  test('§5.5 a follower that crashed while the leader was idle catches up after restarting, from the leader\'s retries alone', () => {
    const net = withLeader();
    net.crash('3');
    net.propose('1', 'a');
    net.stabilize();
    assert.equal(net.status('1').commit, 2, 'the others commit without 3');
    net.restart('3');
    healthyRounds(net, 5);
    assert.deepEqual(net.log('3'), net.log('1'));
    assert.deepEqual(net.get('3').applied.map((e) => decode(e.data)), ['', 'a']);
  });

  test('§5.5 a follower that crashes keeps its log and term, and catches up after restarting', () => {
    const net = withLeader();
    net.propose('1', 'a');
    net.stabilize();
    net.crash('3');
    net.propose('1', 'b');
    net.stabilize();
    assert.equal(net.status('1').commit, 3, 'the others commit without 3');
    net.restart('3');
    assert.equal(net.status('3').term, 1);
    assert.deepEqual(net.log('3'), ['1/1', '2/1']);
    net.propose('1', 'c');
    net.stabilize();
    net.tick('1');
    net.stabilize();
    assert.deepEqual(net.log('3'), net.log('1'));
    assert.deepEqual(net.get('3').applied.map((e) => decode(e.data)), ['', 'a', 'b', 'c']);
  });
});

describe('§7 Log compaction', () => {
  test('§7 the leader sends InstallSnapshot to a follower that needs entries it has discarded', () => {
    const compacted = (s: MemoryStorage): void => {
      s.createSnapshot(5, { voters: ids3, learners: [] }, new TextEncoder().encode('state@5'));
      s.compact(5);
    };
    const net = new PaperNet(ids3, {
      '1': { log: [1, 1, 1, 1, 1], term: 1, commit: 5, prepare: compacted },
      '2': { log: [1, 1, 1, 1, 1], term: 1, commit: 5, prepare: compacted },
      '3': { term: 1 },
    });
    net.campaign('1');
    net.stabilize();
    const snaps = net.sent.filter((m) => m.type === MessageType.MsgSnap);
    assert.deepEqual(describeMsgs(snaps), ['1->3 MsgSnap t2']);
    const rd = net.get('3').readies.find((r) => r.snapshot);
    assert.equal(decode(rd!.snapshot!.data), 'state@5');
    assert.equal(net.get('3').storage.snapshot().metadata.index, 5);
    assert.deepEqual(net.log('3'), net.log('1'));
    assert.equal(net.status('3').commit, 6);
  });
});

describe('§8 Client interaction', () => {
  test('§8 a leader answers a read-only request only after a majority acknowledges a heartbeat', () => {
    const net = withLeader();
    net.get('1').node.readIndex(new TextEncoder().encode('r1'));
    net.flush('1');
    const reads = (): string[] => net.get('1').readies.flatMap((r) => r.readStates.map((s) => `${s.index} ${decode(s.requestCtx)}`));
    assert.deepEqual(reads(), []);
    assert.deepEqual(describeMsgs(net.queue), ['1->2 MsgHeartbeat t1', '1->3 MsgHeartbeat t1']);
    deliverWhile(net, or(to('2'), from('2')));
    assert.deepEqual(reads(), ['1 r1']);
  });

  test('§8 a new leader holds a read until it has committed an entry of its own term', () => {
    const net = withLeader();
    net.campaign('2');
    net.stabilize({ drop: and(ofType(MessageType.MsgApp), from('2')) });
    assert.equal(net.status('2').raftState, StateType.Leader);
    assert.equal(net.status('2').commit, 1, 'the no-op of term 2 is not committed yet');
    net.get('2').node.readIndex(new TextEncoder().encode('r'));
    net.flush('2');
    assert.ok(!net.queue.some((m) => m.type === MessageType.MsgHeartbeat), 'no read round yet');
    net.tick('2'); // heartbeats: their answers restart the probes
    net.stabilize();
    assert.equal(net.status('2').commit, 2);
    const reads = net.get('2').readies.flatMap((r) => r.readStates.map((s) => s.index));
    assert.deepEqual(reads, [2]);
  });
});

describe('§5.2–§5.4.3 Safety properties under random faults (Figure 3)', () => {
  type Cmd =
    | { k: 'tick'; n: number; times: number }
    | { k: 'tickAll' }
    | { k: 'campaign'; n: number }
    | { k: 'propose'; n: number }
    | { k: 'deliver'; i: number; dup: boolean }
    | { k: 'deliverAll' }
    | { k: 'drop'; i: number }
    | { k: 'crash'; n: number }
    | { k: 'restart'; n: number };

  const node = fc.nat({ max: 4 });
  const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
    { weight: 20, arbitrary: fc.record({ k: fc.constant('tick' as const), n: node, times: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 10, arbitrary: fc.record({ k: fc.constant('tickAll' as const) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('campaign' as const), n: node }) },
    { weight: 8, arbitrary: fc.record({ k: fc.constant('propose' as const), n: node }) },
    { weight: 45, arbitrary: fc.record({ k: fc.constant('deliver' as const), i: fc.nat(), dup: fc.boolean() }) },
    { weight: 8, arbitrary: fc.record({ k: fc.constant('deliverAll' as const) }) },
    { weight: 6, arbitrary: fc.record({ k: fc.constant('drop' as const), i: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('crash' as const), n: node }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('restart' as const), n: node }) },
  );

  /** Checks the properties of Figure 3 after every command, failing with the first one broken. */
  class Checker {
    private readonly leaders = new Map<number, string>();
    private readonly leaderLogs = new Map<string, string[]>();
    /** index -> the committed entry there (term:data) and the lowest term known to be past its commit. */
    private readonly committed = new Map<number, { entry: string; term: number }>();
    private readonly seenApplied = new Map<string, number>();

    constructor(private readonly net: PaperNet) {}

    private entriesOf(id: string): string[] {
      const s = this.net.get(id).storage;
      return s.entries(s.firstIndex(), s.lastIndex() + 1).map((e) => `${e.term}:${decode(e.data)}`);
    }

    check(): void {
      const ids = [...this.net.nodes.keys()];
      for (const id of ids) {
        const n = this.net.get(id);
        const st = n.node.status();
        // State machine safety: one entry per index, whoever applies it.
        for (let i = this.seenApplied.get(id) ?? 0; i < n.applied.length; i++) {
          const e = n.applied[i];
          const entry = `${e.term}:${decode(e.data)}`;
          const known = this.committed.get(e.index);
          if (known) assert.equal(entry, known.entry, `state machine safety: ${id} applied ${entry} at ${e.index}, another node ${known.entry}`);
          else this.committed.set(e.index, { entry, term: st.term });
        }
        this.seenApplied.set(id, n.applied.length);
        if (n.down || st.raftState !== StateType.Leader) continue;
        // Election safety: at most one leader per term.
        const other = this.leaders.get(st.term);
        assert.ok(other === undefined || other === id, `election safety: ${other} and ${id} both lead term ${st.term}`);
        this.leaders.set(st.term, id);
        // Leader append-only: while it leads, its log only grows.
        const log = this.entriesOf(id);
        const key = `${id}@${st.term}`;
        const prev = this.leaderLogs.get(key);
        if (prev) assert.deepEqual(log.slice(0, prev.length), prev, `leader append-only: ${key}`);
        this.leaderLogs.set(key, log);
        // Leader completeness: a leader of a later term holds every committed entry.
        for (const [index, c] of this.committed) {
          if (st.term <= c.term) continue;
          assert.equal(log[index - 1], c.entry, `leader completeness: ${id} at term ${st.term} lacks ${c.entry} at ${index}`);
        }
      }
      // Log matching: the same index and term means the same prefix.
      const logs = ids.map((id) => this.entriesOf(id));
      for (let a = 0; a < logs.length; a++) {
        for (let b = a + 1; b < logs.length; b++) {
          const [x, y] = [logs[a], logs[b]];
          let last = -1;
          for (let i = Math.min(x.length, y.length) - 1; i >= 0; i--) {
            if (x[i].split(':')[0] === y[i].split(':')[0]) {
              last = i;
              break;
            }
          }
          assert.deepEqual(x.slice(0, last + 1), y.slice(0, last + 1), `log matching: ${ids[a]} and ${ids[b]} up to ${last + 1}`);
        }
      }
    }
  }

  function run(size: number, config: object, cmds: Cmd[]): void {
    const ids = ids5.slice(0, size);
    const net = new PaperNet(ids, {}, config);
    const checker = new Checker(net);
    for (const [step, c] of cmds.entries()) {
      const id = 'n' in c ? ids[c.n % size] : '';
      const n = id ? net.get(id) : undefined;
      switch (c.k) {
        case 'tick':
          if (!n!.down) net.tick(id, c.times);
          break;
        case 'tickAll':
          for (const other of ids) if (!net.get(other).down) net.tick(other);
          break;
        case 'campaign':
          if (!n!.down) net.campaign(id);
          break;
        case 'propose':
          if (n!.down) break;
          try {
            net.propose(id, `p${step}`);
          } catch (e) {
            if ((e as { code?: string }).code !== 'RAFT_NO_LEADER') throw e;
          }
          break;
        case 'deliver': {
          if (net.queue.length === 0) break;
          const [m] = net.queue.splice(c.i % net.queue.length, 1);
          const target = net.get(m.to);
          if (target.down || isDriverMessage(m.type)) break;
          target.node.step(m);
          if (c.dup) target.node.step(m);
          net.flush();
          break;
        }
        case 'deliverAll':
          net.deliver();
          break;
        case 'drop':
          if (net.queue.length > 0) net.queue.splice(c.i % net.queue.length, 1);
          break;
        case 'crash':
          if (!n!.down) net.crash(id);
          break;
        case 'restart':
          if (n!.down) net.restart(id);
          break;
      }
      checker.check();
    }
  }

  test('§5.2 election safety, §5.3 log matching, §5.4.3 leader completeness and state machine safety hold under loss, duplication, reordering and crashes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(3, 5),
        fc.record({ preVote: fc.boolean(), checkQuorum: fc.boolean(), maxEntriesPerMsg: fc.integer({ min: 1, max: 3 }), maxInflightMsgs: fc.integer({ min: 1, max: 3 }) }),
        fc.array(cmdArb, { minLength: 300, maxLength: 800 }),
        (size, config, cmds) => run(size, config, cmds),
      ),
      // The short run is pinned to one seed; `npm run test:long` explores fresh ones (fast-check prints the seed on failure).
      process.env.KV_TEST_LONG ? { numRuns: 3000 } : { numRuns: 150, seed: 20240601 },
    );
  });
});
