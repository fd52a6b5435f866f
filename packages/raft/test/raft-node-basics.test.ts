// RaftNode (node/raft-node.ts): option validation, elections and their
// events, proposals on the leader and through a follower, group commit, and
// the persistence-ordering rule (entries and hard state are durable before
// the messages that promise them go out), on the memory network with the
// manual clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { RaftError } from '../src/errors.ts';
import type { LogBatch } from '../src/node/log-store.ts';
import { MemoryLogStore } from '../src/node/memory-log-store.ts';
import { RaftNode, type RaftNodeOptions } from '../src/node/raft-node.ts';
import { createMemoryNetwork } from '../src/testing/memory-network.ts';
import { MessageType, type Message, type NodeId, type Term } from '../src/types.ts';
import { NodeCluster, RecordingMachine, assertCode, bytes, nameOf, rejected, resolved } from './helpers/node-cluster.ts';

function options(over: Partial<RaftNodeOptions<number>> = {}): RaftNodeOptions<number> {
  const net = createMemoryNetwork({ seed: 1, clock: 'manual' });
  return {
    id: '1',
    initialMembers: { '1': 'mem://n1' },
    logStore: new MemoryLogStore(),
    transport: net.transport('n1'),
    stateMachine: new RecordingMachine(),
    ...over,
  };
}

function invalid(over: Partial<RaftNodeOptions<number>>): RaftError {
  let caught: unknown;
  try {
    new RaftNode(options(over));
  } catch (e) {
    caught = e;
  }
  assertCode(caught, 'RAFT_INVALID_CONFIG');
  return caught as RaftError;
}

describe('RaftNode options', () => {
  test('rejects an election timeout under 5 × the heartbeat interval with RAFT_INVALID_CONFIG naming both', () => {
    const err = invalid({ heartbeatIntervalMs: 100, electionTimeoutMs: 499 });
    assert.match(err.message, /electionTimeoutMs \(499\)/);
    assert.match(err.message, /heartbeatIntervalMs \(100\)/);
  });

  test('rejects the default election timeout when the heartbeat alone is raised past a fifth of it', () => {
    const err = invalid({ heartbeatIntervalMs: 250 });
    assert.match(err.message, /electionTimeoutMs \(1000\)/);
    assert.match(err.message, /heartbeatIntervalMs \(250\)/);
  });

  test('accepts an election timeout of exactly 5 × the heartbeat interval', () => {
    assert.doesNotThrow(() => new RaftNode(options({ heartbeatIntervalMs: 100, electionTimeoutMs: 500 })));
  });

  test('rejects a non-positive or non-finite time with RAFT_INVALID_CONFIG naming the field', () => {
    assert.match(invalid({ heartbeatIntervalMs: 0 }).message, /heartbeatIntervalMs/);
    assert.match(invalid({ heartbeatIntervalMs: -5 }).message, /heartbeatIntervalMs/);
    assert.match(invalid({ electionTimeoutMs: Number.NaN }).message, /electionTimeoutMs/);
    assert.match(invalid({ requestTimeoutMs: 0 }).message, /requestTimeoutMs/);
  });

  test('rejects a non-positive snapshot setting with RAFT_INVALID_CONFIG naming the field', () => {
    assert.match(invalid({ snapshotCount: 0 }).message, /snapshotCount/);
    assert.match(invalid({ snapshotChunkBytes: 0 }).message, /snapshotChunkBytes/);
    assert.match(invalid({ maxSnapshotBytes: -1 }).message, /maxSnapshotBytes/);
    assert.match(invalid({ snapshotCatchUpEntries: -1 }).message, /snapshotCatchUpEntries/);
    assert.match(invalid({ snapshotCatchUpEntries: 1.5 }).message, /snapshotCatchUpEntries/);
  });

  test('rejects a missing id, log store, transport or state machine with RAFT_INVALID_CONFIG naming it', () => {
    assert.match(invalid({ id: '' }).message, /\bid\b/);
    assert.match(invalid({ logStore: undefined as never }).message, /logStore/);
    assert.match(invalid({ transport: undefined as never }).message, /transport/);
    assert.match(invalid({ stateMachine: undefined as never }).message, /stateMachine/);
  });

  test('refuses to bootstrap a cluster whose initial members leave out this node', async () => {
    const net = createMemoryNetwork({ seed: 1, clock: 'manual' });
    const node = new RaftNode(options({ id: '9', initialMembers: { '1': 'mem://n1', '2': 'mem://n2' }, transport: net.transport('n9') }));
    const err = await rejected(net.clock, node.start());
    assertCode(err, 'RAFT_INVALID_CONFIG');
    assert.match(err.message, /member 9 is not among the initial members \(1, 2\)/);
  });
});

describe('RaftNode elections and proposals', () => {
  test('a 3-node cluster elects one leader and its leader and role events agree with status()', async () => {
    const c = new NodeCluster({ seed: 3 });
    const leaderEvents = new Map<NodeId, Array<[NodeId | undefined, Term]>>();
    const roleEvents = new Map<NodeId, Array<[string, Term]>>();
    await c.start();
    for (const m of c.members.values()) {
      leaderEvents.set(m.id, []);
      roleEvents.set(m.id, []);
      m.node.on('leader', (l, t) => leaderEvents.get(m.id)!.push([l, t]));
      m.node.on('role', (r, t) => roleEvents.get(m.id)!.push([r, t]));
    }
    const leader = await c.waitForLeader();
    await c.clock.runFor(2000, { stepMs: 50 });
    assert.equal(c.leader()?.id, leader.id, 'the leader is stable with no faults');
    const term = leader.node.status().term;

    for (const m of c.members.values()) {
      const st = m.node.status();
      assert.equal(st.leader, leader.id, `${m.id} knows the leader`);
      assert.equal(st.term, term, `${m.id} is at the leader's term`);
      const le = leaderEvents.get(m.id)!;
      assert.deepEqual(le.at(-1), [leader.id, term], `${m.id}'s last leader event names the leader at its term`);
      const re = roleEvents.get(m.id)!;
      if (m.id === leader.id) assert.deepEqual(re.at(-1), ['leader', term]);
      else if (re.length > 0) assert.equal(re.at(-1)![0], 'follower');
      assert.equal(st.role, m.id === leader.id ? 'leader' : 'follower');
    }
    // Election safety as the events tell it: one leader per term.
    const byTerm = new Map<Term, Set<NodeId>>();
    for (const le of leaderEvents.values()) for (const [l, t] of le) if (l !== undefined) (byTerm.get(t) ?? byTerm.set(t, new Set()).get(t)!).add(l);
    for (const [t, ls] of byTerm) assert.equal(ls.size, 1, `term ${t} had leaders ${[...ls].join(',')}`);
    const leadRoles = [...roleEvents.entries()].flatMap(([id, re]) => re.filter(([r]) => r === 'leader').map(([, t]) => `${t}:${id}`));
    assert.equal(new Set(leadRoles.map((s) => s.split(':')[0])).size, leadRoles.length, 'no two nodes became leader in one term');
    await c.close();
  });

  test('a proposal on the leader resolves with the state machine result for its own entry', async () => {
    const c = new NodeCluster({ seed: 4 });
    await c.start();
    const leader = await c.waitForLeader();
    const n = await c.propose(leader.id, 'on-leader');
    assert.equal(leader.sm.values[n - 1], 'on-leader');
    await c.close();
  });

  test('a proposal on a follower is forwarded and resolves with the follower state machine result', async () => {
    const c = new NodeCluster({ seed: 5 });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.follower(leader.id);
    await c.propose(leader.id, 'first');
    const n = await c.propose(f.id, 'via-follower');
    assert.equal(f.sm.values[n - 1], 'via-follower');
    assert.equal(n, 2);
    await c.close();
  });

  test('every node applies the same entries in the same order, whoever proposed them', async () => {
    const c = new NodeCluster({ seed: 6 });
    await c.start();
    const applied = new Map<NodeId, number[]>();
    for (const m of c.members.values()) m.node.on('applied', (i) => void (applied.get(m.id) ?? applied.set(m.id, []).get(m.id)!).push(i));
    await c.waitForLeader();
    const ps: Promise<number>[] = [];
    for (let i = 0; i < 60; i++) ps.push(c.node(String((i % 3) + 1)).propose(bytes(`p${i}`)));
    const results = await resolved(c.clock, Promise.all(ps));
    await c.waitForConvergence();
    const [a, b, d] = ['1', '2', '3'].map((id) => c.get(id).sm);
    assert.equal(a.values.length, 60);
    assert.deepEqual(b.values, a.values);
    assert.deepEqual(d.values, a.values);
    assert.deepEqual(b.indexes, a.indexes);
    assert.deepEqual(d.indexes, a.indexes);
    assert.deepEqual([...a.values].sort(), Array.from({ length: 60 }, (_, i) => `p${i}`).sort());
    // Each proposer got its own entry's position back.
    results.forEach((n, i) => assert.equal(c.get(String((i % 3) + 1)).sm.values[n - 1], `p${i}`));
    // `applied` events climb to the applied index.
    for (const m of c.members.values()) {
      const seen = applied.get(m.id)!;
      assert.deepEqual(seen, [...seen].sort((x, y) => x - y), `${m.id}'s applied events only go up`);
      assert.equal(new Set(seen).size, seen.length);
      assert.equal(seen.at(-1), m.node.status().appliedIndex);
      assert.equal(seen.at(-1), a.indexes.at(-1));
    }
    await c.close();
  });
});

describe('RaftNode durable writes', () => {
  test('group commit: 500 concurrent proposals on the leader take far fewer than 500 writes', async () => {
    const writes = new Map<NodeId, LogBatch[]>();
    const c = new NodeCluster({
      seed: 7,
      store: (id) => ({ onWrite: (b) => void (writes.get(id) ?? writes.set(id, []).get(id)!).push(b) }),
    });
    await c.start();
    const leader = await c.waitForLeader();
    await c.propose(leader.id, 'warm-up');
    const before = writes.get(leader.id)!.length;
    const N = 500;
    await c.proposeMany(leader.id, 'g', N);
    const batches = writes.get(leader.id)!.slice(before);
    const entries = batches.reduce((s, b) => s + b.entries.length, 0);
    assert.ok(entries >= N, `the writes carried all ${N} entries (${entries})`);
    assert.ok(batches.length <= N / 10, `${batches.length} writes for ${N} proposals`);
    assert.ok(Math.max(...batches.map((b) => b.entries.length)) >= 50, 'at least one write carried many entries');
    await c.close();
  });

  test('no append acknowledgement or vote is sent before the entries or hard state it promises are durable', async () => {
    const checked = { appResp: 0, vote: 0 };
    const violations: string[] = [];
    let c!: NodeCluster;
    const onSend = (id: NodeId, m: Message): void => {
      const held = c.get(id).store.inspect();
      if (m.type === MessageType.MsgAppResp && !m.reject) {
        checked.appResp++;
        if (held.lastIndex < m.index) violations.push(`${id} acked index ${m.index} to ${m.to} with only ${held.lastIndex} durable`);
      }
      if (m.type === MessageType.MsgVoteResp && !m.reject) {
        checked.vote++;
        const hs = held.hardState;
        if (hs.term !== m.term || hs.vote !== m.to) {
          violations.push(`${id} granted its term-${m.term} vote to ${m.to} with hard state ${JSON.stringify(hs)} durable`);
        }
      }
    };
    c = new NodeCluster({ seed: 8, onSend });
    await c.start();
    let leader = await c.waitForLeader();
    // Many concurrent proposals from every node, so appends arrive while
    // followers still have earlier writes in flight.
    const ps: Promise<number>[] = [];
    for (let i = 0; i < 300; i++) ps.push(c.node(String((i % 3) + 1)).propose(bytes(`o${i}`)));
    await resolved(c.clock, Promise.all(ps));
    // A second election: cut the leader off and let the others vote.
    c.net.isolate(nameOf(leader.id));
    const old = leader.id;
    leader = await c.waitForLeader(['1', '2', '3'].filter((id) => id !== old));
    await c.proposeMany(leader.id, 'after', 50);
    c.net.heal();
    await c.waitForConvergence();
    assert.ok(checked.appResp > 50, `checked ${checked.appResp} append acknowledgements`);
    assert.ok(checked.vote >= 2, `checked ${checked.vote} vote grants`);
    assert.deepEqual(violations, []);
    await c.close();
  });
});
