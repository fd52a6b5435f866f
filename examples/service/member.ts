// One instance of a service that embeds kv: every instance is a member of
// the kv cluster (createNode over WebSocket, with its own data dir), and
// campaigns in an election (../lock/election.ts) for a job that only the
// leader may run. The job advances a counter in the store, fenced by the
// leader's token: a write carries the token, and a leader that finds a
// larger token there knows it was replaced and stops.
//
// main.ts starts three of these; one alone is started like a kvd member:
//
//   node --conditions=kv-source --import tsx examples/service/member.ts \
//     --name svc-a --data-dir /tmp/svc-a.kv --listen http://127.0.0.1:2380 \
//     --initial-cluster svc-a=http://127.0.0.1:2380,svc-b=http://127.0.0.1:2381,svc-c=http://127.0.0.1:2382
//
// It prints one line per event (`svc-a: elected leader (fencing token 9)`)
// and stops cleanly on SIGTERM or SIGINT: it resigns, so another instance
// takes the job at once, and closes its member.
import { parseArgs } from 'node:util';
import { RaftError } from '@kv/raft';
import { createNode, KvError, KvErrorCode } from '@kv/store';
import { wsTransport } from '@kv/transport-ws';
import { Election } from '../lock/election.ts';
import type { LockLease } from '../lock/lock.ts';

const { values: flags } = parseArgs({
  options: {
    name: { type: 'string' },
    'data-dir': { type: 'string' },
    listen: { type: 'string' },
    'initial-cluster': { type: 'string' },
    'job-interval-ms': { type: 'string', default: '500' },
    'ttl-seconds': { type: 'string', default: '2' },
  },
});
const name = flags.name;
const listen = flags.listen;
const initialCluster = flags['initial-cluster'];
const dataDir = flags['data-dir'];
if (!name || !listen || !initialCluster || !dataDir) {
  console.error('usage: member.ts --name NAME --data-dir DIR --listen URL --initial-cluster NAME=URL,...');
  process.exit(2);
}
const jobIntervalMs = Number(flags['job-interval-ms']);
const ttlSeconds = Number(flags['ttl-seconds']);
const say = (s: string): void => console.log(`${name}: ${s}`);

/** What the job keeps in the store: how many times it ran, and under which leader. */
interface Progress {
  readonly runs: number;
  readonly by: string;
  readonly token: number;
}
const PROGRESS = '/service/progress';

const node = await createNode({
  name,
  dataDir,
  transport: wsTransport({ listen }),
  initialCluster,
  initialClusterToken: 'service-example',
  initialAdvertisePeerUrls: [listen],
});
const election = new Election(node, '/service/leader', { name, ttlSeconds });
const stopping = new AbortController();
say(`started as member ${node.id} (peer URL ${listen}, pid ${process.pid})`);

/** Runs the job once under `term`. Resolves false when a newer leader has taken over. */
async function runJob(term: LockLease): Promise<boolean> {
  let prev: { value: Progress; modifiedIndex: number } | undefined;
  try {
    const r = await node.get(PROGRESS);
    prev = { value: r.node.value as Progress, modifiedIndex: r.node.modifiedIndex };
  } catch (e) {
    if (!(e instanceof KvError && e.errorCode === KvErrorCode.KeyNotFound)) throw e;
  }
  if (prev && prev.value.token > term.fencingToken) {
    say(`fenced off: ${prev.value.by} ran the job with token ${prev.value.token} > ${term.fencingToken}`);
    return false;
  }
  const next: Progress = { runs: (prev?.value.runs ?? 0) + 1, by: name!, token: term.fencingToken };
  // Compare-and-swap on the index we read: nobody ran the job in between.
  if (prev) await node.compareAndSwap(PROGRESS, next, { prevIndex: prev.modifiedIndex });
  else await node.create(PROGRESS, next);
  say(`job run ${next.runs} (fencing token ${term.fencingToken})`);
  return true;
}

/** Runs the job every `jobIntervalMs` for as long as `term` lasts. */
async function lead(term: LockLease): Promise<void> {
  const until = AbortSignal.any([term.signal, stopping.signal]);
  while (!until.aborted) {
    try {
      if (!(await runJob(term))) return void (await election.resign().catch(() => undefined));
    } catch (e) {
      // No quorum, or another writer in between: try again next time.
      if (!(e instanceof KvError || e instanceof RaftError)) throw e;
      say(`job run failed: ${(e as Error).message}`);
    }
    await pause(jobIntervalMs, until);
  }
  if (term.signal.aborted && !stopping.signal.aborted) say(`no longer leader: ${(term.signal.reason as Error).message}`);
}

/** Waits `ms`, or less if `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

const serving = (async () => {
  while (!stopping.signal.aborted) {
    say('campaigning for /service/leader');
    let term: LockLease;
    try {
      term = await election.campaign({ signal: stopping.signal });
    } catch (e) {
      if (stopping.signal.aborted) return;
      throw e;
    }
    say(`elected leader (fencing token ${term.fencingToken})`);
    await lead(term);
  }
})();

const stop = async (why: string): Promise<void> => {
  if (stopping.signal.aborted) return;
  say(`${why}: stopping`);
  stopping.abort();
  await serving;
  if (election.isLeader) {
    // Hand the job over now rather than after the TTL; without a quorum the
    // resignation cannot commit, and the TTL does it instead.
    const resigned = await Promise.race([
      election.resign().then(() => true, () => false),
      new Promise<false>((resolve) => setTimeout(resolve, 2000, false)),
    ]);
    say(resigned ? 'resigned' : 'could not resign: the lock expires with its TTL');
  }
  await node.close();
  say('stopped');
};
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
serving.catch((e: unknown) => {
  console.error(`${name}: ${String(e)}`);
  process.exitCode = 1;
  void stop('error');
});
