// A local three-member kv cluster of kvd processes, driven with kvctl, as
// the etcd write-ups do it by hand: member list, set on one, get on each,
// ls, cluster-health, SIGKILL the leader, failover, quorum loss (writes
// fail, reads answer), restart, endpoint status. Data dirs (classic-level,
// the embedded default storage) live in a temp folder removed at the end.
//
//   node --conditions=kv-source --import tsx examples/kvd-demo.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runKvctl } from '@kv/cli';
import { freePort, onInterrupt } from './local-processes.ts';

const KVD = fileURLToPath(new URL('../packages/cli/src/kvd/bin.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kvd-demo-'));
const say = (s: string): void => console.log(s);

const names = ['infra0', 'infra1', 'infra2'];
const peer = await Promise.all(names.map(() => freePort()));
const client = await Promise.all(names.map(() => freePort()));
const clientUrl = (i: number): string => `http://127.0.0.1:${client[i]}`;
const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${peer[i]}`).join(',');
const args = (i: number): string[] => [
  '-name', names[i], '--data-dir', join(dir, `${names[i]}.kv`),
  '-initial-advertise-peer-urls', `http://127.0.0.1:${peer[i]}`, '-listen-peer-urls', `http://127.0.0.1:${peer[i]}`,
  '-listen-client-urls', clientUrl(i), '-advertise-client-urls', clientUrl(i),
  '-initial-cluster-token', 'etcd-cluster-1', '-initial-cluster', initialCluster, '-initial-cluster-state', 'new',
];
const procs: (ChildProcess | undefined)[] = [];
const exited: Promise<number | string>[] = [];
const start = (i: number): void => {
  const p = spawn(process.execPath, ['--conditions=kv-source', '--import', 'tsx', KVD, ...args(i)], { stdio: 'ignore' });
  procs[i] = p;
  exited[i] = new Promise((resolve) => p.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
};
/** Sends `signal` to every kvd still running and waits until all have exited; resolves with each one's exit code or signal. */
async function stopAll(signal: NodeJS.Signals): Promise<(number | string)[]> {
  for (const p of procs) if (p && p.exitCode === null && p.signalCode === null) p.kill(signal);
  return Promise.all(exited);
}
onInterrupt(async () => {
  await stopAll('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Runs kvctl and prints the command and its output, as in a terminal. */
async function kvctl(...argv: string[]): Promise<number> {
  say(`$ kvctl ${argv.filter((a) => !a.startsWith('--endpoints')).join(' ')}`);
  let out = '';
  const sink = { write: (s: string) => void (out += s) };
  const code = await runKvctl(argv, { stdout: sink, stderr: sink, env: {} });
  for (const line of out.trimEnd().split('\n')) if (line) say(`  ${line}`);
  return code;
}
const all = `--endpoints=${names.map((_, i) => clientUrl(i)).join(',')}`;
const on = (i: number): string => `--endpoints=${clientUrl(i)}`;

async function waitUntil(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 50));
}
async function leaderIndex(): Promise<number> {
  for (let i = 0; i < names.length; i++) {
    if (!procs[i]) continue;
    try {
      const r = await fetch(`${clientUrl(i)}/v2/stats/self`);
      if (((await r.json()) as { state?: string }).state === 'StateLeader') return i;
    } catch {
      // down
    }
  }
  return -1;
}

try {
  say(`kv: three kvd processes on 127.0.0.1 (data dirs in ${dir})\n`);
  names.forEach((_, i) => start(i));
  await waitUntil(async () => (await leaderIndex()) >= 0);
  // Each member publishes its client URL through the log once it runs.
  await waitUntil(async () => {
    try {
      const r = await fetch(`${clientUrl(0)}/v2/members`);
      const { members } = (await r.json()) as { members: { clientURLs: string[] }[] };
      return members.length === 3 && members.every((m) => m.clientURLs.length > 0);
    } catch {
      return false;
    }
  });

  await kvctl(all, 'member', 'list');
  await kvctl(on(2), 'set', '/message', 'set by infra2');
  // --quorum: a plain get is served from the member's own copy (etcd's
  // default too), which may trail the write's acknowledgement by a round trip.
  for (let i = 0; i < 3; i++) await kvctl(on(i), 'get', '--quorum', '/message');
  await kvctl(all, 'mkdir', '/jobs');
  await kvctl(all, 'set', '/jobs/backup', 'hourly');
  await kvctl(all, 'ls', '--recursive');
  await kvctl(all, 'cluster-health');

  const leader = await leaderIndex();
  say(`\n# SIGKILL the leader, ${names[leader]}`);
  procs[leader]!.kill('SIGKILL');
  procs[leader] = undefined;
  const rest = [0, 1, 2].filter((i) => i !== leader);
  const t0 = Date.now();
  await waitUntil(async () => (await leaderIndex()) >= 0);
  say(`# a new leader after ${Date.now() - t0} ms`);
  await kvctl(on(rest[0]), 'set', '/message', 'written after failover');
  await kvctl(all, 'cluster-health');

  say(`\n# stop ${names[rest[1]]} too: one of three left, no quorum`);
  procs[rest[1]]!.kill('SIGKILL');
  procs[rest[1]] = undefined;
  await kvctl(on(rest[0]), 'set', '/message', 'no quorum');
  say('  (a write that times out may still commit once a quorum is back: its outcome is unknown)');
  await kvctl(on(rest[0]), 'get', '/message');

  say(`\n# restart ${names[leader]} from its data dir: quorum is back`);
  start(leader);
  await waitUntil(async () => (await leaderIndex()) >= 0);
  await kvctl(on(rest[0]), 'set', '/message', 'quorum regained');
  await kvctl(on(leader), 'get', '--quorum', '/message');
  await kvctl(`--endpoints=${clientUrl(leader)},${clientUrl(rest[0])}`, 'endpoint', 'status', '-w', 'table');
  const running = [0, 1, 2].filter((i) => procs[i]);
  say(`\n# SIGTERM ${running.map((i) => names[i]).join(' and ')}: kvd shuts down cleanly`);
  const codes = await stopAll('SIGTERM');
  say(`# ${running.map((i) => `${names[i]} exited with code ${codes[i]}`).join(', ')}`);
} finally {
  await stopAll('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
say('\ndone.');
