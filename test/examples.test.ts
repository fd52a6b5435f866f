// Runs every example program with the command the README's examples table
// gives for it (for `npm start`, the start script of package.json), as a
// child process in its own process group, and checks what it prints, that
// it exits with code 0, and that it leaves no process and no listening
// port behind. The examples that are tests themselves (examples/**/*.test.ts)
// run with the rest of the tests.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The README's example commands that run a program, by the program's path (`examples/store-demo.ts`). */
function readmeCommands(): Map<string, string> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Examples'));
  const table = section.slice(0, section.indexOf('\n## '));
  const startScript = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const out = new Map<string, string>();
  for (const [, cmd] of table.matchAll(/^\| `([^`]+)` \|/gm)) {
    const command = cmd === 'npm start' ? startScript : cmd;
    const program = /^node .*?(examples\/\S+\.ts)$/.exec(command)?.[1];
    if (program) out.set(program, command);
  }
  return out;
}

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly lines: string[];
  /** stdout and stderr, for failure messages. */
  readonly output: string;
  readonly ms: number;
}

/**
 * Runs `command` from the repository root in a new process group, so that
 * everything it starts can be found (and, past `timeoutMs`, killed) with it.
 * Resolves once the program exited and no process of its group is left.
 */
async function run(command: string, timeoutMs: number): Promise<Run> {
  const [bin, ...args] = command.split(' ');
  assert.equal(bin, 'node', `expected a node command, got ${command}`);
  const t0 = Date.now();
  const child = spawn(process.execPath, args, { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => ((stdout += s), (output += s)));
  child.stderr.setEncoding('utf8').on('data', (s: string) => void (output += s));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!);
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('close', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  const ms = Date.now() - t0;
  const leftover = await groupGone(child.pid!, 15_000);
  if (!leftover) killGroup(child.pid!);
  const tail = `\n--- output of \`${command}\` (${ms} ms) ---\n${output.slice(-6000)}`;
  assert.ok(!timedOut, `still running after ${timeoutMs} ms: killed${tail}`);
  assert.equal(code, 0, `exit code ${code}${signal ? ` (signal ${signal})` : ''}${tail}`);
  assert.ok(leftover, `processes the example started were still running 15 s after it exited${tail}`);
  return { code, signal, stdout, lines: stdout.split('\n'), output: tail, ms };
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Waits until no process is left in process group `pgid`; false if some still is after `timeoutMs`. */
async function groupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(-pgid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
      throw e;
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether nothing listens on 127.0.0.1:`port` (waiting up to `timeoutMs` for it to be released). */
async function portFree(port: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free || Date.now() > deadline) return free;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function assertPortsFreed(ports: readonly number[], r: Run): Promise<void> {
  assert.ok(ports.length > 0, `found no ports in the output${r.output}`);
  for (const p of ports) assert.ok(await portFree(p), `port ${p} is still in use after the example exited${r.output}`);
}

/** The first line matching `re`, with its groups; fails the test with the output if there is none. */
function line(r: Run, re: RegExp): RegExpMatchArray {
  for (const l of r.lines) {
    const m = l.match(re);
    if (m) return m;
  }
  assert.fail(`no line matches ${re}${r.output}`);
}

function all(r: Run, re: RegExp): RegExpMatchArray[] {
  return r.lines.map((l) => l.match(re)).filter((m): m is RegExpMatchArray => m !== null);
}

function lastLine(r: Run): string {
  return r.lines.filter((l) => l.trim() !== '').at(-1) ?? '';
}

const commands = readmeCommands();
/** The programs tested here; the README must give a command for each, and for no other. */
const PROGRAMS = ['examples/store-demo.ts', 'examples/raft-demo.ts', 'examples/ws-cluster.ts', 'examples/service/main.ts', 'examples/kvd-demo.ts'];

function command(program: string): string {
  const c = commands.get(program);
  assert.ok(c, `the README's examples table has no command for ${program}`);
  return c;
}

test('the README gives a command for each example program, and each is tested here', () => {
  assert.deepEqual([...commands.keys()].sort(), [...PROGRAMS].sort());
  assert.equal(commands.get('examples/kvd-demo.ts'), 'node --conditions=kv-source --import tsx examples/kvd-demo.ts', 'npm start runs the kvd demo');
});

test('store-demo: three members in one process read each other\'s writes, fail over, lose quorum and regain it', { timeout: 180_000 }, async () => {
  const r = await run(command('examples/store-demo.ts'), 150_000);
  assert.equal(all(r, /^ {2}infra[12]: hello from infra0$/).length, 2, `the write on infra0 was read on infra1 and infra2${r.output}`);
  line(r, /^ {2}watch: create \/jobs \(index \d+\)$/);
  line(r, /^ {2}watch: set \/jobs\/a \(index \d+\)$/);
  line(r, /^ {2}get \/jobs\/a on infra2: 100 Key not found \(\/jobs\/a\)$/);
  const stopped = line(r, /^\$ stop the leader \((infra\d)\)$/)[1];
  const elected = line(r, /^ {2}(infra\d) was elected leader after \d+ ms$/)[1];
  assert.notEqual(elected, stopped);
  line(r, /^ {2}set \/message on infra\d: ok$/);
  // Without quorum the write fails, and a serializable read still answers.
  const noQuorum = line(r, /^ {2}set on (infra\d): (.+) \(after \d+ ms\)$/);
  assert.doesNotMatch(noQuorum[2], /^ok$/);
  line(r, /^ {2}serializable get on infra\d: written after failover$/);
  line(r, /^ {2}get \/message on infra\d: quorum regained$/);
  assert.equal(lastLine(r), 'done.');
});

test('raft-demo: raw Raft nodes elect, replicate, fail over and repair the old leader\'s log', { timeout: 120_000 }, async () => {
  const r = await run(command('examples/raft-demo.ts'), 100_000);
  const first = line(r, /^ {3}after \d+ ticks node (\d) leads:$/)[1];
  assert.equal(all(r, /^ {2}node \d: .* applied: \[x=1, x=2, x=3\]/).length, 3, `every node applied x=1..3 in order${r.output}`);
  const second = line(r, /^ {3}after \d+ ticks node (\d) leads at a higher term:$/)[1];
  assert.notEqual(second, first);
  assert.match(lastLine(r), /^\d+ messages delivered; logs agree\.$/);
});

test('ws-cluster: three processes over WebSocket read a write on every member and survive a SIGKILL of the leader', { timeout: 240_000 }, async () => {
  const r = await run(command('examples/ws-cluster.ts'), 210_000);
  const up = line(r, /^three members up: (.+)$/)[1];
  const ports = [...up.matchAll(/:(\d+)/g)].map((m) => Number(m[1]));
  assert.equal(ports.length, 3);
  for (const n of ['svc-a', 'svc-b', 'svc-c']) line(r, new RegExp(`^ {2}get /greeting on ${n}: hello over websockets$`));
  line(r, /^SIGKILL the leader, svc-[abc]$/);
  line(r, /^ {2}a survivor took a write \d+ ms later/);
  assert.equal(lastLine(r), 'done.');
  await assertPortsFreed(ports, r);
});

test('service: only the elected instance runs the job, which moves on SIGKILL (after the TTL) and on SIGTERM (at once)', { timeout: 360_000 }, async () => {
  const r = await run(command('examples/service/main.ts'), 330_000);
  const ports = [...line(r, /^peer URLs: (.+);/)[1].matchAll(/:(\d+)/g)].map((m) => Number(m[1]));
  assert.equal(ports.length, 3);

  // Elected, killed, replaced by another instance with a larger fencing token.
  // (On a starved machine an early leader may miss its TTL refresh and give
  // the lock up; the walk-through then follows the next one.)
  const killed = line(r, /^# SIGKILL (svc-[abc]), the leader/)[1];
  line(r, new RegExp(`^ {2}${killed}: elected leader \\(fencing token (\\d+)\\)$`));
  const moved = line(r, /^# the job moved from (svc-[abc]) to (svc-[abc]) \d+ ms after the kill .*fencing token (\d+) -> (\d+), continuing at run (\d+)$/);
  assert.equal(moved[1], killed);
  assert.notEqual(moved[2], killed);
  assert.ok(Number(moved[4]) > Number(moved[3]), `fencing token ${moved[3]} -> ${moved[4]}`);

  // The killed instance restarts from its data dir; the new leader resigns on SIGTERM.
  line(r, new RegExp(`^# restart ${killed} from its data dir$`));
  assert.equal(all(r, new RegExp(`^ {2}${killed}: started as member `)).length, 2);
  line(r, new RegExp(`^ {2}${moved[2]}: resigned$`));
  const handedOver = line(r, /^# (svc-[abc]) resigned and exited with code 0; the job moved to (svc-[abc]) \d+ ms after the SIGTERM$/);
  assert.equal(handedOver[1], moved[2]);
  assert.notEqual(handedOver[2], moved[2]);
  line(r, /^# exit codes: svc-[abc] 0, svc-[abc] 0$/);

  // Each run of the job is counted once: the count only goes up, whoever leads.
  const runs = all(r, /^ {2}(svc-[abc]): job run (\d+) \(fencing token (\d+)\)$/).map((m) => ({ by: m[1], n: Number(m[2]), token: Number(m[3]) }));
  assert.ok(runs.length >= 6, `at least six runs${r.output}`);
  for (let i = 1; i < runs.length; i++) {
    assert.ok(runs[i].n > runs[i - 1].n, `run ${runs[i].n} by ${runs[i].by} after run ${runs[i - 1].n} by ${runs[i - 1].by}${r.output}`);
    assert.ok(runs[i].token >= runs[i - 1].token, `a run under an older fencing token came after a newer one${r.output}`);
  }
  assert.deepEqual(
    runs.map((x) => x.by).filter((by, i, a) => by !== a[i - 1]).slice(-3),
    [killed, moved[2], handedOver[2]],
    'the job ran on the killed leader, then the second, then the third',
  );
  assert.equal(lastLine(r), 'done.');
  await assertPortsFreed(ports, r);
});

test('kvd-demo (npm start): three kvd processes driven with kvctl, failover and quorum loss, then every kvd exits', { timeout: 300_000 }, async () => {
  const r = await run(command('examples/kvd-demo.ts'), 270_000);
  // member list: three members, each with its peer and client URL.
  const members = all(r, /^ {2}[0-9a-f]{1,16}: name=(infra\d) peerURLs=http:\/\/127\.0\.0\.1:(\d+) clientURLs=http:\/\/127\.0\.0\.1:(\d+) isLeader=(true|false)$/);
  assert.deepEqual(members.map((m) => m[1]).sort(), ['infra0', 'infra1', 'infra2'], `member list${r.output}`);
  assert.equal(members.filter((m) => m[4] === 'true').length, 1, 'one leader in member list');
  // A write on infra2, read on each member.
  const reads = r.stdout.match(/^\$ kvctl get --quorum \/message\n {2}set by infra2$/gm) ?? [];
  assert.equal(reads.length, 3, `the value set on infra2 was read on all three members${r.output}`);
  line(r, /^ {2}cluster is healthy$/);
  line(r, /^# SIGKILL the leader, infra\d$/);
  line(r, /^# a new leader after \d+ ms$/);
  assert.match(r.stdout, /^\$ kvctl set \/message written after failover\n {2}written after failover$/m);
  line(r, /^ {2}cluster is degraded$/);
  assert.match(r.stdout, /^\$ kvctl get --quorum \/message\n {2}quorum regained$/m);
  // The members still running at the end stop on SIGTERM with code 0.
  line(r, /^# infra\d exited with code 0, infra\d exited with code 0$/);
  assert.equal(lastLine(r), 'done.');
  await assertPortsFreed(members.flatMap((m) => [Number(m[2]), Number(m[3])]), r);
});
