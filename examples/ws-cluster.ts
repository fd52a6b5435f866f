// Three kv members in three processes on this machine, over WebSocket, each
// with its own data dir: what an app that embeds kv in three instances of
// its service does. The parent starts three children running this same
// file, writes through one, reads on the others, SIGKILLs the leader, and
// shows the new leader taking writes within a few hundred milliseconds.
//
//   node --conditions=kv-source --import tsx examples/ws-cluster.ts
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNode } from '@kv/store';
import { wsTransport } from '@kv/transport-ws';
import { freePort } from './local-processes.ts';

type Cmd = { id: number; op: 'set' | 'get' | 'status'; key?: string; value?: string };

if (process.env.KV_MEMBER) {
  // ---- a member: one instance of "the service" ----
  const { name, dataDir, listen, initialCluster } = JSON.parse(process.env.KV_MEMBER) as Record<string, string>;
  const node = await createNode({
    name,
    dataDir,
    transport: wsTransport({ listen }),
    initialCluster,
    initialClusterToken: 'ws-cluster-example',
    initialAdvertisePeerUrls: [listen],
  });
  process.on('message', (m: Cmd) => {
    const run = async (): Promise<unknown> => {
      if (m.op === 'set') return (await node.set(m.key!, m.value)).index;
      if (m.op === 'get') return (await node.get(m.key!)).node.value;
      return node.status();
    };
    run().then(
      (result) => process.send!({ id: m.id, result }),
      (e: Error & { code?: unknown }) => process.send!({ id: m.id, error: `${String(e.code)}: ${e.message}` }),
    );
  });
  // The parent is gone (it was killed before it could kill us): stop too.
  process.once('disconnect', () => void node.close().finally(() => process.exit(0)));
  process.send!({ ready: node.id });
} else {
  // ---- the parent: starts three members and talks to them ----
  const dir = mkdtempSync(join(tmpdir(), 'kv-ws-example-'));
  const names = ['svc-a', 'svc-b', 'svc-c'];
  const ports = await Promise.all(names.map(() => freePort()));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const initialCluster = names.map((n, i) => `${n}=${urls[i]}`).join(',');
  const say = (s: string): void => console.log(s);
  let seq = 0;
  const members = names.map((name, i) =>
    fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, KV_MEMBER: JSON.stringify({ name, dataDir: join(dir, name), listen: urls[i], initialCluster }) },
      execArgv: ['--conditions=kv-source', '--import', 'tsx'],
    }),
  );
  const ask = (p: ChildProcess, cmd: Omit<Cmd, 'id'>): Promise<{ result?: unknown; error?: string }> =>
    new Promise((resolve) => {
      const id = ++seq;
      const on = (m: { id?: number }): void => {
        if (m.id !== id) return;
        p.off('message', on);
        resolve(m as { result?: unknown; error?: string });
      };
      p.on('message', on);
      p.send({ id, ...cmd });
    });
  await Promise.all(
    members.map(
      (p, i) =>
        new Promise((resolve, reject) => {
          p.once('message', resolve);
          p.once('exit', (code) => reject(new Error(`${names[i]} exited with ${code} before it was ready`)));
        }),
    ),
  );
  say(`three members up: ${names.map((n, i) => `${n} ${urls[i]}`).join(', ')}`);

  for (;;) if (!(await ask(members[0], { op: 'set', key: '/greeting', value: 'hello over websockets' })).error) break;
  for (let i = 0; i < 3; i++) say(`  get /greeting on ${names[i]}: ${(await ask(members[i], { op: 'get', key: '/greeting' })).result}`);

  let leader = -1;
  for (let i = 0; i < 3; i++) if (((await ask(members[i], { op: 'status' })).result as { isLeader: boolean }).isLeader) leader = i;
  say(`\nSIGKILL the leader, ${names[leader]}`);
  const t0 = Date.now();
  members[leader].kill('SIGKILL');
  const survivor = members[(leader + 1) % 3];
  for (;;) {
    const r = await ask(survivor, { op: 'set', key: '/after', value: 'still writing' });
    if (!r.error) break;
  }
  say(`  a survivor took a write ${Date.now() - t0} ms later (election timeout: 1000 ms)`);

  // Wait for the members to be gone before removing their data dirs.
  const gone = members.map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined : new Promise((r) => p.once('exit', r))));
  for (const p of members) p.kill('SIGKILL');
  await Promise.all(gone);
  rmSync(dir, { recursive: true, force: true });
  say('done.');
}
