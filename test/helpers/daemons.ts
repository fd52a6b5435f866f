// kvd and the real etcd as child processes, started with the same
// etcd-style flags (kvd takes etcd's), for the interop tests: the node-etcd
// client against a kvd cluster, and etcd's discovery protocol both ways.
// Every daemon started here is SIGKILLed by stopAll() (call it in `after`)
// or, failing that, when the test process exits.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './member-process.ts';

const KVD = fileURLToPath(new URL('../../packages/cli/src/kvd/bin.ts', import.meta.url));

/** Whether the real etcd (Debian's etcd-server) is on the PATH. */
export const etcdInstalled: boolean = spawnSync('etcd', ['--version']).status === 0;

export type DaemonKind = 'kvd' | 'etcd';

export interface Daemon {
  readonly kind: DaemonKind;
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
  /** Everything it wrote to stdout and stderr so far. */
  log(): string;
  /** SIGKILL (etcd may hang on SIGTERM once its peers are gone) and wait for the exit. */
  kill(): Promise<void>;
}

/** A member to be: its name and the URLs it will listen on. */
export interface MemberSpec {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
}

const running = new Set<Daemon>();
const dirs: string[] = [];
process.on('exit', () => {
  for (const d of running) d.child.kill('SIGKILL');
});

/** A temp directory removed by {@link stopAll}. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Names with free client and peer ports on 127.0.0.1. */
export async function memberSpecs(names: readonly string[]): Promise<MemberSpec[]> {
  const out: MemberSpec[] = [];
  for (const name of names) {
    out.push({ name, clientUrl: `http://127.0.0.1:${await freePort()}`, peerUrl: `http://127.0.0.1:${await freePort()}` });
  }
  return out;
}

/** `name=peerURL,...`: etcd's `--initial-cluster`. */
export function initialCluster(specs: readonly MemberSpec[]): string {
  return specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
}

/**
 * Starts `kvd` or `etcd` for `spec` with etcd's flags (name, data dir under
 * `dir`, client and peer URLs) followed by `args` (the bootstrap flags:
 * `--initial-cluster ...` or `--discovery ...`). Does not wait for it.
 */
export function startDaemon(kind: DaemonKind, spec: MemberSpec, dir: string, args: readonly string[]): Daemon {
  const flags = [
    '--name', spec.name,
    '--data-dir', join(dir, `${spec.name}.${kind}`),
    '--listen-client-urls', spec.clientUrl,
    '--advertise-client-urls', spec.clientUrl,
    '--listen-peer-urls', spec.peerUrl,
    '--initial-advertise-peer-urls', spec.peerUrl,
    ...args,
  ];
  const child =
    kind === 'kvd'
      ? spawn(process.execPath, ['--conditions=kv-source', '--import', 'tsx', KVD, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('etcd', flags, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const d: Daemon = {
    kind,
    ...spec,
    child,
    exited,
    log: () => log,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      running.delete(d);
    },
  };
  running.add(d);
  return d;
}

/** Polls `GET <clientUrl>/health` until it answers `{"health":"true"}`. */
export async function healthy(d: Daemon, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (d.child.exitCode !== null) throw new Error(`${d.kind} ${d.name} exited with ${d.child.exitCode}:\n${d.log().slice(-3000)}`);
    try {
      const r = await fetch(`${d.clientUrl}/health`, { signal: AbortSignal.timeout(3000) });
      if (r.ok && ((await r.json()) as { health?: string }).health === 'true') return;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`${d.kind} ${d.name} not healthy within ${timeoutMs} ms:\n${d.log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A cluster of `names` booted together: statically (`--initial-cluster`,
 * `--initial-cluster-state new`) unless `bootstrap` gives other flags (e.g.
 * `['--discovery', url]`). Resolves once every member is healthy.
 */
export async function startCluster(
  kind: DaemonKind,
  names: readonly string[],
  opts: { dir?: string; bootstrap?: readonly string[]; extra?: readonly string[] } = {},
): Promise<Daemon[]> {
  // A free port found here can be taken by another process before the
  // daemon binds it (tests run in parallel): start again on fresh ports.
  for (let attempt = 1; ; attempt++) {
    const dir = opts.dir !== undefined && attempt === 1 ? opts.dir : tempDir(`kv-${kind}-`);
    const specs = await memberSpecs(names);
    const bootstrap = opts.bootstrap ?? [
      '--initial-cluster', initialCluster(specs),
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `${kind}-${Math.random().toString(16).slice(2)}`,
    ];
    const members = specs.map((s) => startDaemon(kind, s, dir, [...bootstrap, ...(opts.extra ?? [])]));
    try {
      await Promise.all(members.map((m) => healthy(m)));
      return members;
    } catch (e) {
      const portTaken = members.some((m) => /address already in use|EADDRINUSE/.test(m.log()));
      await Promise.all(members.map((m) => m.kill()));
      if (!portTaken || attempt >= 3 || opts.bootstrap !== undefined) throw e;
    }
  }
}

/** Kills every daemon started here and removes the temp directories. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((d) => d.kill()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
