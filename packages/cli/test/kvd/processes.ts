// Real kvd and kvctl processes for tests: free ports on 127.0.0.1, kvd
// children killed after the file's tests, kvctl run to completion with its
// stdout, stderr and exit code, and polling waits for conditions that have
// no event to await (a port that starts answering, a file that fills up).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../../../examples/local-processes.ts';

const KVD = fileURLToPath(new URL('../../src/kvd/bin.ts', import.meta.url));
const KVCTL = fileURLToPath(new URL('../../src/kvctl/bin.ts', import.meta.url));
const NODE_ARGS = ['--conditions=kv-source', '--import', 'tsx'];

export interface Proc {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  log(): string;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<number | null>;
}

export interface Done {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Tracks children and temp dirs of one test file; `cleanup()` in `after`. */
export class Processes {
  private readonly children: ChildProcess[] = [];
  private readonly dirs: string[] = [];

  tempDir(prefix = 'kv-test-'): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  /** Starts a process of `script` (kvd or kvctl source) under tsx. */
  spawn(script: 'kvd' | 'kvctl', args: readonly string[], env: NodeJS.ProcessEnv = {}): Proc {
    const child = spawn(process.execPath, [...NODE_ARGS, script === 'kvd' ? KVD : KVCTL, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, log: () => out + err, stdout: () => out, stderr: () => err, exited };
  }

  kvd(args: readonly string[], env: NodeJS.ProcessEnv = {}): Proc {
    return this.spawn('kvd', args, env);
  }

  /** Runs kvctl to completion. */
  async kvctl(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Done> {
    const p = this.spawn('kvctl', args, env);
    const code = await p.exited;
    // 'exit' can come before the pipes are drained.
    await Promise.all([closed(p.child.stdout!), closed(p.child.stderr!)]);
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  }

  cleanup(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

function closed(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    if ((stream as { readableEnded?: boolean }).readableEnded) resolve();
    else stream.once('close', () => resolve());
  });
}

export { freePort };

/** Polls `cond` until it holds (a condition without an event to await), or fails naming `what`. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await cond();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The flags of one member of a kvd cluster on 127.0.0.1. */
export interface MemberPorts {
  readonly name: string;
  readonly peer: number;
  readonly client: number;
}

export async function memberPorts(names: readonly string[]): Promise<MemberPorts[]> {
  const out: MemberPorts[] = [];
  for (const name of names) out.push({ name, peer: await freePort(), client: await freePort() });
  return out;
}

export function clusterFlag(members: readonly MemberPorts[]): string {
  return members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
}

/** kvd's flags for member `m` of `members`, data in `dataDir`. */
export function kvdArgs(m: MemberPorts, members: readonly MemberPorts[], opts: { dataDir: string; token: string; state?: 'new' | 'existing'; scheme?: 'http' | 'https' }): string[] {
  const scheme = opts.scheme ?? 'http';
  return [
    '--name', m.name,
    '--data-dir', opts.dataDir,
    '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
    '--listen-client-urls', `${scheme}://127.0.0.1:${m.client}`,
    '--advertise-client-urls', `${scheme}://127.0.0.1:${m.client}`,
    '--initial-cluster', clusterFlag(members),
    '--initial-cluster-token', opts.token,
    '--initial-cluster-state', opts.state ?? 'new',
    '--heartbeat-interval', '50',
    '--election-timeout', '500',
  ];
}

/** GET or a form PUT, JSON answer; rejects on connection errors. */
export async function call(url: string, method = 'GET', form?: Record<string, string>): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const init: RequestInit = { method };
  if (form !== undefined) {
    init.body = new URLSearchParams(form).toString();
    init.headers = { 'content-type': 'application/x-www-form-urlencoded' };
  }
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** Waits until the member at `clientUrl` answers `/health` with a leader and a quorum. */
export async function waitHealthy(clientUrl: string, what: string): Promise<void> {
  await waitUntil(async () => (await call(`${clientUrl}/health`)).body.health === 'true', what);
}

/** Whether `cmd` is on the PATH (for tests that compare with the real etcdctl). */
export async function onPath(cmd: string): Promise<boolean> {
  return new Promise((resolve) => execFile('which', [cmd], (err) => resolve(err === null)));
}
