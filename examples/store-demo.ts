// A three-member kv cluster in one process, on the in-memory network and
// memory storage. It walks through what the etcd write-ups do by hand: set
// on one member, read on the others, watch a directory, delete, lose the
// leader, elect a new one, lose quorum (writes fail, serializable reads
// still answer), and get it back.
//
//   node --conditions=kv-source --import tsx examples/store-demo.ts
import { MemoryLogStore } from '@kv/raft';
import { createMemoryNetwork } from '@kv/raft/testing';
import { createNode, KvError, type KvNode } from '@kv/store';

const say = (s: string): void => console.log(s);
const net = createMemoryNetwork({ seed: 1 });
const initialCluster = { infra0: 'mem://infra0', infra1: 'mem://infra1', infra2: 'mem://infra2' };
const names = Object.keys(initialCluster);
const nodes = new Map<string, KvNode>();
// Each member's log outlives the member, as a data dir would: a restarted
// member comes back with everything it had.
const stores = new Map(names.map((n) => [n, new MemoryLogStore()]));
for (const name of names) {
  nodes.set(
    name,
    await createNode({
      name,
      initialCluster,
      transport: net.transport(name),
      advertiseClientUrls: [`http://${name}:2379`],
      requestTimeoutMs: 2000,
      logStore: stores.get(name)!,
    }),
  );
}
const node = (name: string): KvNode => nodes.get(name)!;
const leaderName = (): string | undefined => names.find((n) => nodes.has(n) && node(n).status().isLeader);
const waitFor = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
};

say('kv: three members in one process (memory network, memory storage)\n');
await node('infra0').set('/message', 'hello from infra0');
await waitFor(() => leaderName() !== undefined);
say(`$ member list`);
for (const m of await node('infra0').members.list()) {
  say(`  ${m.id}: name=${m.name} peerURLs=${m.peerURLs.join(',')} isLeader=${m.isLeader}`);
}

say(`\n$ set /message on infra0, get it on infra1 and infra2`);
for (const n of ['infra1', 'infra2']) say(`  ${n}: ${(await node(n).get('/message')).node.value}`);

const ac = new AbortController();
const seen: string[] = [];
const watching = (async () => {
  for await (const ev of node('infra2').watch('/jobs', { recursive: true, signal: ac.signal })) {
    seen.push(`${ev.action} ${ev.node.key} (index ${ev.index})`);
  }
})();
say(`\n$ watch /jobs on infra2; mkdir /jobs, set /jobs/a on infra0, delete it on infra1`);
await node('infra0').mkdir('/jobs');
await node('infra0').set('/jobs/a', { cmd: 'backup', every: '1h' });
await node('infra1').delete('/jobs/a');
await waitFor(() => seen.length >= 2);
ac.abort();
await watching;
for (const s of seen) say(`  watch: ${s}`);
try {
  await node('infra2').get('/jobs/a');
} catch (e) {
  if (e instanceof KvError) say(`  get /jobs/a on infra2: ${e.errorCode} ${e.message} (${e.cause})`);
}

const first = leaderName()!;
say(`\n$ stop the leader (${first})`);
await node(first).close();
nodes.delete(first);
const t0 = Date.now();
await waitFor(() => leaderName() !== undefined);
say(`  ${leaderName()} was elected leader after ${Date.now() - t0} ms`);
const survivor = names.find((n) => nodes.has(n))!;
await node(survivor).set('/message', 'written after failover');
say(`  set /message on ${survivor}: ok`);

const second = leaderName()!;
say(`\n$ stop the new leader too (${second}): one member of three is left, no quorum`);
await node(second).close();
nodes.delete(second);
const last = names.find((n) => nodes.has(n))!;
// Once its election timeout passes, the survivor knows it has no leader.
await waitFor(() => node(last).status().leader === undefined);
const t1 = Date.now();
try {
  await node(last).set('/message', 'no quorum');
} catch (e) {
  say(`  set on ${last}: ${(e as Error).message} (after ${Date.now() - t1} ms)`);
}
say(`  serializable get on ${last}: ${(await node(last).get('/message', { consistency: 'serializable' })).node.value}`);

say(`\n$ restart ${second}: quorum is back`);
nodes.set(second, await createNode({ name: second, initialCluster, transport: net.transport(second), requestTimeoutMs: 2000, logStore: stores.get(second)! }));
say(`  ${second} restarted from its log (applied index ${node(second).status().appliedIndex})`);
await node(last).set('/message', 'quorum regained');
await waitFor(() => node(second).status().appliedIndex >= node(last).status().appliedIndex);
say(`  get /message on ${second}: ${(await node(second).get('/message')).node.value}`);

for (const n of nodes.values()) await n.close();
say('\ndone.');
