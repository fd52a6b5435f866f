// Three instances of a service that embeds kv (member.ts), as three
// processes on this machine over WebSocket with data dirs. Only the elected
// leader runs the job. This shows the job moving:
//
//   1. one instance is elected and runs the job;
//   2. SIGKILL it: once its lock's TTL runs out, another takes the job over
//      and carries on the count, with a larger fencing token;
//   3. restart the killed one from its data dir: it campaigns again;
//   4. SIGTERM the current leader: it resigns, and the job moves at once;
//   5. SIGTERM the rest: every instance exits with code 0.
//
//   node --conditions=kv-source --import tsx examples/service/main.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort, onInterrupt } from '../local-processes.ts';

const MEMBER = fileURLToPath(new URL('./member.ts', import.meta.url));
const TTL_SECONDS = 2;
/** How long any one step may take before the demo gives up (a loaded machine is slow to start tsx). */
const STEP_TIMEOUT_MS = 90_000;
const say = (s: string): void => console.log(s);

const dir = mkdtempSync(join(tmpdir(), 'kv-service-example-'));
const names = ['svc-a', 'svc-b', 'svc-c'];
const ports = await Promise.all(names.map(() => freePort()));
const urls = ports.map((p) => `http://127.0.0.1:${p}`);
const initialCluster = names.map((n, i) => `${n}=${urls[i]}`).join(',');

/** Every line the members printed, in arrival order. */
const lines: { from: string; text: string }[] = [];
const waiters = new Set<() => void>();
const procs = new Map<string, ChildProcess>();
const exits = new Map<string, Promise<number | string>>();

function start(i: number): void {
  const name = names[i];
  const p = spawn(
    process.execPath,
    ['--conditions=kv-source', '--import', 'tsx', MEMBER, '--name', name, '--data-dir', join(dir, name), '--listen', urls[i], '--initial-cluster', initialCluster, '--ttl-seconds', String(TTL_SECONDS)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  procs.set(name, p);
  exits.set(name, new Promise((resolve) => p.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))));
  createInterface({ input: p.stdout! }).on('line', (text) => {
    say(`  ${text}`);
    lines.push({ from: name, text });
    for (const w of [...waiters]) w();
  });
  // Transport warnings (a peer went away) are the members' stderr: keep them out of the walk-through.
  createInterface({ input: p.stderr! }).on('line', (text) => void (process.env.KV_EXAMPLE_VERBOSE && console.error(`  ${name} ! ${text}`)));
}

/** Waits for a member's line matching `re` after line number `from`; resolves with the member and the match. */
function next(re: RegExp, opts: { from: number; not?: string }): Promise<{ name: string; match: RegExpMatchArray; at: number }> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      for (let i = opts.from; i < lines.length; i++) {
        const m = lines[i].text.match(re);
        if (m && lines[i].from !== opts.not) {
          cleanup();
          return resolve({ name: lines[i].from, match: m, at: i });
        }
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no member printed ${re} within ${STEP_TIMEOUT_MS} ms`));
    }, STEP_TIMEOUT_MS);
    const cleanup = (): void => {
      clearTimeout(timer);
      waiters.delete(check);
    };
    waiters.add(check);
    check();
  });
}
const ELECTED = /^(\S+): elected leader \(fencing token (\d+)\)$/;
const jobRunBy = (name: string): RegExp => new RegExp(`^${name}: job run (\\d+) `);
const JOB_RUN = /^(\S+): job run (\d+) /;

/** The last "elected leader" line before line `before`. */
function latestElected(before: number): { name: string; match: RegExpMatchArray; at: number } | undefined {
  for (let i = before - 1; i >= 0; i--) {
    const m = lines[i].text.match(ELECTED);
    if (m) return { name: lines[i].from, match: m, at: i };
  }
  return undefined;
}

async function stopAll(signal: NodeJS.Signals): Promise<void> {
  for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill(signal);
  await Promise.all(exits.values());
}
onInterrupt(async () => {
  await stopAll('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

let failed = false;
try {
  say(`three instances of the service, each a kv member with a data dir in ${dir}`);
  say(`peer URLs: ${urls.join(', ')}; leader lock TTL ${TTL_SECONDS} s\n`);
  names.forEach((_, i) => start(i));

  // 1. Somebody is elected and runs the job. On a starved machine a leader
  // can miss its TTL refresh and give the lock up (as it must); then the
  // next one elected is the one to follow.
  let first = await next(ELECTED, { from: 0 });
  let mark = first.at;
  for (let k = 0; k < 3; ) {
    const run = await next(JOB_RUN, { from: mark + 1 });
    mark = run.at;
    const leader = latestElected(run.at);
    if (leader && leader.at !== first.at) {
      first = leader;
      k = 0;
    }
    if (run.name === first.name) k++;
  }

  // 2. Kill it. The others wait out the TTL, then one of them is elected.
  const killed = first.name;
  say(`\n# SIGKILL ${killed}, the leader (pid ${procs.get(killed)!.pid})`);
  const t0 = Date.now();
  procs.get(killed)!.kill('SIGKILL');
  await exits.get(killed);
  const second = await next(ELECTED, { from: mark + 1, not: killed });
  const tookOver = Date.now() - t0;
  const secondRun = await next(jobRunBy(second.name), { from: second.at });
  say(
    `# the job moved from ${killed} to ${second.name} ${tookOver} ms after the kill (the lock's TTL ran out), ` +
      `fencing token ${first.match[2]} -> ${second.match[2]}, continuing at run ${secondRun.match[1]}`,
  );
  mark = (await next(jobRunBy(second.name), { from: secondRun.at + 1 })).at;

  // 3. The killed instance comes back from its data dir and campaigns again.
  say(`\n# restart ${killed} from its data dir`);
  start(names.indexOf(killed));
  mark = (await next(new RegExp(`^${killed}: campaigning`), { from: mark + 1 })).at;

  // 4. A clean stop of the leader: it resigns, so the job moves without waiting for the TTL.
  say(`\n# SIGTERM ${second.name}, the leader`);
  const t1 = Date.now();
  procs.get(second.name)!.kill('SIGTERM');
  const third = await next(ELECTED, { from: mark + 1, not: second.name });
  const handedOver = Date.now() - t1;
  const code = await exits.get(second.name);
  await next(jobRunBy(third.name), { from: third.at });
  say(`# ${second.name} resigned and exited with code ${code}; the job moved to ${third.name} ${handedOver} ms after the SIGTERM`);
  if (code !== 0) failed = true;

  // 5. Stop the rest; every instance that was not killed exits with 0.
  say('\n# SIGTERM the others');
  const rest = names.filter((n) => n !== second.name);
  for (const n of rest) procs.get(n)!.kill('SIGTERM');
  const codes = await Promise.all(rest.map((n) => exits.get(n)!));
  say(`# exit codes: ${rest.map((n, i) => `${n} ${codes[i]}`).join(', ')}`);
  if (codes.some((c) => c !== 0)) failed = true;
} catch (e) {
  failed = true;
  console.error(`service example failed: ${(e as Error).message}`);
} finally {
  await stopAll('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
say(failed ? '\nfailed.' : '\ndone.');
process.exitCode = failed ? 1 : 0;
