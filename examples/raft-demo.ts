// Three raw Raft nodes (@kv/raft's RawNode, no key store) in one process on
// a hand-driven network. They elect a leader, replicate entries, lose the
// leader to a partition, elect a new one, and bring the old leader back up
// to date. Every step is printed.
//
//   node --conditions=kv-source --import tsx examples/raft-demo.ts
import { describeMessage, StateType, type Message, type NodeId, type RaftLogger } from '@kv/raft';
import { RawCluster } from '@kv/raft/testing';

const ids: NodeId[] = ['1', '2', '3'];
const say = (line: string): void => console.log(line);
const logger = (id: NodeId): RaftLogger => ({
  debug() {},
  info: (msg) => {
    // Only the lines a reader cares about: roles and elections.
    if (/became (candidate|pre-candidate|leader)|became follower at term [1-9]|starting a new election|stepped down/.test(msg)) say(`  [node ${id}] ${msg}`);
  },
  warn: (msg) => say(`  [node ${id}] warn: ${msg}`),
  error: (msg) => say(`  [node ${id}] error: ${msg}`),
});

const cut = new Set<NodeId>();
let delivered = 0;
const decoder = new TextDecoder();
const appliedLog = new Map<NodeId, string[]>(ids.map((id) => [id, []]));

/** Ticks every node, then moves messages until the network is quiet. */
function runTicks(ticks: number, opts: { verbose?: boolean } = {}): void {
  for (let t = 0; t < ticks; t++) {
    cluster.tickAll();
    settle(opts.verbose ?? false);
  }
}

function settle(verbose: boolean): void {
  for (let round = 0; round < 100; round++) {
    let moved = 0;
    for (const id of ids) {
      const n = cluster.get(id);
      const before = n.appliedIndex;
      const msgs: readonly Message[] = cluster.processReady(id);
      if (n.appliedIndex > before) {
        const ents = n.node.raft.log.slice(before + 1, n.appliedIndex + 1);
        for (const e of ents) if (e.data.byteLength > 0) appliedLog.get(id)!.push(decoder.decode(e.data));
      }
      for (const m of msgs) {
        if (cut.has(m.from) || cut.has(m.to)) continue;
        if (verbose) say(`    ${describeMessage(m)}`);
        cluster.get(m.to).node.step(m);
        delivered++;
        moved++;
      }
    }
    if (moved === 0) return;
  }
}

function leader(): NodeId | undefined {
  return ids.find((id) => !cut.has(id) && cluster.get(id).node.raft.state === StateType.Leader);
}

function show(title: string): void {
  say(`\n${title}`);
  for (const id of ids) {
    const s = cluster.get(id).node.status();
    const role = ['follower', 'candidate', 'LEADER', 'pre-candidate'][s.raftState];
    say(`  node ${id}: ${role.padEnd(13)} term ${s.term}  commit ${s.commit}  applied: [${appliedLog.get(id)!.join(', ')}]${cut.has(id) ? '  (cut off)' : ''}`);
  }
}

say('kv raft demo: three nodes, one process, a network you can cut.\n');
const cluster = new RawCluster({ ids, seed: 7, logger });
say('1. Nobody leads yet; ticking until an election timeout fires...');
let ticks = 0;
while (!leader() && ticks < 100) {
  runTicks(1);
  ticks++;
}
const first = leader()!;
show(`   after ${ticks} ticks node ${first} leads:`);

say(`\n2. Proposing three entries on the leader (node ${first}); the messages that replicate the first:`);
cluster.get(first).node.propose(new TextEncoder().encode('x=1'));
settle(true);
cluster.get(first).node.propose(new TextEncoder().encode('x=2'));
cluster.get(first).node.propose(new TextEncoder().encode('x=3'));
settle(false);
show('   every node applied them, in the same order:');

const follower = ids.find((id) => id !== first)!;
say(`\n3. A follower (node ${follower}) proposes: it forwards to the leader.`);
cluster.get(follower).node.propose(new TextEncoder().encode('from-follower'));
settle(false);
show('   committed everywhere:');

say(`\n4. Cutting the leader (node ${first}) off; the others elect a new leader...`);
cut.add(first);
ticks = 0;
while (!leader() && ticks < 100) {
  runTicks(1);
  ticks++;
}
const second = leader()!;
show(`   after ${ticks} ticks node ${second} leads at a higher term:`);
cluster.get(second).node.propose(new TextEncoder().encode('x=4 (while 1 is away)'));
settle(false);

say(`\n5. Healing: node ${first} hears of the new term, steps down and catches up.`);
cut.clear();
runTicks(3);
show('   one log, everywhere:');

const logs = ids.map((id) => appliedLog.get(id)!.join('|'));
const agree = logs.every((l) => l === logs[0]);
say(`\n${delivered} messages delivered; logs ${agree ? 'agree' : 'DIFFER'}.`);
if (!agree) process.exit(1);
