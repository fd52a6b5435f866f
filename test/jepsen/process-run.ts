// A Jepsen-style fault run against real kvd processes: three (or five)
// members on 127.0.0.1 with classic-level data dirs and short Raft timers,
// concurrent clients over the etcd v2 HTTP API of every member, a nemesis —
// SIGKILL and restart, SIGSTOP/SIGCONT past the election timeout, network
// partitions through the transport's fault-injection hook
// (`--experimental-fault-injection`, `PUT /debug/faults`), removing a
// member and adding a fresh one — alone and combined, and the checks
// afterwards: linearizability of every key's history (the final quorum
// reads on every member are part of it, so a lost acknowledged write is a
// stale read), stores identical at the same index, no member that crashed
// on its own or never came back, and watches over HTTP (issue 7): a
// long-poll watcher of the prefix on every member (and a stream=true one
// on the first) saw every change exactly once in index order, agreeing
// with the others and with the final reads, and a watch resumed from 500
// indexes back gets exactly what they saw (watch-check.ts).
//
// The structure follows memory-run.ts; the differences are those of real
// time and real processes: the nemesis draws its faults from a shuffled
// deck (so a short run sees every kind), a fault's start and end are
// requests and signals that may fail, and the run cannot replay a seed
// exactly (the seed fixes the nemesis's and the clients' choices, not the
// timing). Run it alone with its log on stderr:
//   node --conditions=kv-source --import tsx test/jepsen/process-run.ts '{"seed":1,"durationMs":30000}'
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { initialCluster, memberSpecs, startDaemon, type Daemon, type MemberSpec } from '../helpers/daemons.ts';
import { HttpRequestError, httpEndpoint, httpRequest, type HttpAnswer } from './http-endpoint.ts';
import { HttpWatcher, stayedConnected, type WatchEvent, type WatchRecord } from './http-watcher.ts';
import { checkHistory, type Operation } from './linearizability.ts';
import type { MemoryRunReport } from './memory-run.ts';
import { checkResumedWatch, checkWatches, coveringRecord, type ResumedWatch } from './watch-check.ts';
import { rng, runWorkload, type Endpoint } from './workload.ts';

/** The faults a process run can inject. */
export type ProcessFault = 'kill' | 'kill-leader' | 'pause' | 'pause-leader' | 'partition' | 'isolate-leader' | 'bridge' | 'membership';

export const ALL_PROCESS_FAULTS: readonly ProcessFault[] = ['kill', 'kill-leader', 'pause', 'pause-leader', 'partition', 'isolate-leader', 'bridge', 'membership'];

/** The faults that need kvd's fault-injection hook. */
const HOOK_FAULTS: ReadonlySet<ProcessFault> = new Set(['partition', 'isolate-leader', 'bridge']);

export interface ProcessRunOptions {
  seed: number;
  members?: 3 | 5;
  clients?: number;
  keys?: number;
  /** Milliseconds of load under faults (real time). @defaultValue 30000 */
  durationMs?: number;
  faults?: readonly ProcessFault[];
  /** Up to this many faults at once. @defaultValue 2 */
  combine?: number;
  /** kvd's `--heartbeat-interval`. @defaultValue 50 */
  heartbeatMs?: number;
  /** kvd's `--election-timeout`; pauses last at least twice this. @defaultValue 500 */
  electionMs?: number;
  /** kvd's `--snapshot-count` (small, so restarts and new members catch up from snapshots). @defaultValue 300 */
  snapshotCount?: number;
  /** A client request with no answer after this long is unknown. @defaultValue 8000 */
  requestTimeoutMs?: number;
  /** Reads with quorum=false: only to show that the checker catches stale reads. */
  serializableReads?: boolean;
  log?: (line: string) => void;
}

/** What a run saw; the fields it shares with a memory run mean the same. */
export interface ProcessRunReport extends MemoryRunReport {
  /** Every HTTP watch's record (a watcher starts a new one when its history was cleared). */
  watches: WatchRecord[];
  /** kvd processes started, restarts included. */
  processes: number;
  /** The store index the members agreed on at the end. */
  finalIndex: number | undefined;
  /** The tail of every member's output, by name (for a failure's report). */
  logs: Record<string, string>;
}

const PREFIX = '/jepsen';

interface Member {
  readonly name: string;
  readonly spec: MemberSpec;
  readonly args: readonly string[];
  id: string;
  daemon: Daemon | undefined;
  /** Incarnations this harness ended (SIGKILL), so their exits are expected. */
  readonly killed: Set<Daemon>;
  readonly incarnations: Daemon[];
  paused: boolean;
  removed: boolean;
  readonly endpoint: Endpoint & { close(): void };
}

interface MemberJson {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

export async function runProcessJepsen(opts: ProcessRunOptions): Promise<ProcessRunReport> {
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  const log = (line: string): void => opts.log?.(`t=${(now() / 1000).toFixed(3)} ${line}`);
  const nemesisRandom = rng(opts.seed * 7919 + 17);
  const clientRandom = rng(opts.seed * 104729 + 3);
  const size = opts.members ?? 3;
  const electionMs = opts.electionMs ?? 500;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 8000;
  const enabled = opts.faults ?? ALL_PROCESS_FAULTS;
  const hook = enabled.some((f) => HOOK_FAULTS.has(f));
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
  const problems: string[] = [];
  const faults: Record<string, number> = {};
  const dir = mkdtempSync(join(tmpdir(), 'kv-jepsen-'));
  const control = new Agent({ keepAlive: false });
  const members: Member[] = [];
  const watchers: { m: Member; w: HttpWatcher }[] = [];
  const token = `jepsen-${opts.seed}`;
  const extra = [
    '--heartbeat-interval', String(opts.heartbeatMs ?? 50),
    '--election-timeout', String(electionMs),
    '--snapshot-count', String(opts.snapshotCount ?? 300),
    ...(hook ? ['--experimental-fault-injection'] : []),
  ];
  let processes = 0;

  const call = (m: Member, path: string, init: { method?: string; json?: unknown; timeoutMs?: number } = {}): Promise<HttpAnswer> =>
    httpRequest(control, `${m.spec.clientUrl}${path}`, { ...init, timeoutMs: init.timeoutMs ?? 3000 });
  const current = (): Member[] => members.filter((m) => !m.removed);
  const running = (d: Daemon | undefined): boolean => d !== undefined && d.child.exitCode === null && d.child.signalCode === null;
  /** kvd exits 0 on its own when removed, and 1 when restarted from a removed member's data dir. */
  const exitedRemoved = (d: Daemon): boolean => d.child.exitCode === 0 || (d.child.exitCode === 1 && /permanently removed/.test(d.log()));
  const isUp = (m: Member): boolean => !m.removed && !m.paused && running(m.daemon);
  const shuffle = <T>(xs: readonly T[]): T[] => {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(nemesisRandom() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };

  const addMember = (spec: MemberSpec, args: readonly string[]): Member => {
    const m: Member = {
      name: spec.name,
      spec,
      args,
      id: '',
      daemon: undefined,
      killed: new Set(),
      incarnations: [],
      paused: false,
      removed: false,
      endpoint: httpEndpoint({ name: spec.name, clientUrl: spec.clientUrl, timeoutMs: requestTimeoutMs, serializableReads: opts.serializableReads === true }),
    };
    members.push(m);
    return m;
  };
  const start = (m: Member): void => {
    m.daemon = startDaemon('kvd', m.spec, dir, [...m.args, ...extra]);
    m.incarnations.push(m.daemon);
    m.paused = false;
    processes++;
  };
  /** Notes on `m`'s watches what the harness did to it: they no longer count as connected throughout. */
  const disturb = (m: Member, what: string): void => {
    for (const { w } of watchers.filter((x) => x.m === m)) w.current.faults.push(`${what} at t=${(now() / 1000).toFixed(1)}s`);
  };
  /** Watches `m`'s prefix from `waitIndex` on, long-polling or streaming, until the run stops it. */
  const watch = (m: Member, mode: 'long-poll' | 'stream', waitIndex: number): void => {
    const w = new HttpWatcher({ member: m.name, clientUrl: m.spec.clientUrl, prefix: PREFIX, mode, waitIndex, gone: () => m.removed, backoff: () => sleep(100) });
    watchers.push({ m, w });
  };
  const kill = async (m: Member): Promise<void> => {
    const d = m.daemon;
    if (d === undefined) return;
    disturb(m, m.removed ? 'removed' : 'SIGKILL');
    m.killed.add(d);
    m.daemon = undefined;
    m.paused = false;
    await d.kill();
  };
  const healthy = async (m: Member, timeoutMs: number): Promise<boolean> => {
    const end = performance.now() + timeoutMs;
    while (performance.now() < end) {
      if (!running(m.daemon)) return false;
      const a = await call(m, '/health').catch(() => undefined);
      if (a?.status === 200 && (a.body as { health?: string }).health === 'true') return true;
      await sleep(100);
    }
    return false;
  };
  /** Marks current members missing from the cluster's `list` as removed (a removal that answered ambiguously and committed later). */
  const forget = async (list: readonly MemberJson[]): Promise<void> => {
    for (const m of current()) {
      if (list.some((j) => j.id === m.id)) continue;
      log(`${m.name} was removed after all`);
      m.removed = true;
      await kill(m);
    }
  };
  const memberList = async (m: Member): Promise<MemberJson[] | undefined> => {
    const a = await call(m, '/v2/members').catch(() => undefined);
    return a?.status === 200 ? (a.body as { members: MemberJson[] }).members : undefined;
  };

  /** The member most up members call leader (a deposed one may still think it leads). */
  const leader = async (): Promise<Member | undefined> => {
    const up = current().filter(isUp);
    const views = await Promise.all(
      up.map(async (m) => {
        const a = await call(m, '/v2/stats/self', { timeoutMs: 1500 }).catch(() => undefined);
        return a?.status === 200 ? (a.body as { leaderInfo?: { leader?: string } }).leaderInfo?.leader : undefined;
      }),
    );
    const votes = new Map<string, number>();
    for (const v of views) if (v) votes.set(v, (votes.get(v) ?? 0) + 1);
    const best = [...votes].sort((a, b) => b[1] - a[1])[0];
    return best ? up.find((m) => m.id === best[0]) : undefined;
  };

  // ---- partitions: pairs of members that cannot talk, pushed to each member's hook ----
  const cuts: Set<string>[] = [];
  const pairKey = (a: Member, b: Member): string => (a.name < b.name ? `${a.name}|${b.name}` : `${b.name}|${a.name}`);
  const blocksOf = (m: Member): string[] =>
    current()
      .filter((o) => o !== m && o.id !== '' && cuts.some((c) => c.has(pairKey(m, o))))
      .map((o) => o.id);
  /** Sends `m` its block list; true once it answered (or it is not up to ask). */
  const pushFaults = async (m: Member): Promise<boolean> => {
    if (!hook || !isUp(m)) return true;
    let a: HttpAnswer;
    try {
      a = await call(m, '/debug/faults', { method: 'PUT', json: { block: blocksOf(m) } });
    } catch (e) {
      // Refused: it is not listening yet (just restarted), so it blocks nothing.
      return e instanceof HttpRequestError && e.refused;
    }
    if (a.status === 404) throw new Error(`kvd ${m.name} has no PUT /debug/faults: started without --experimental-fault-injection?`);
    return a.status === 200;
  };
  const pushAll = async (attempts = 3): Promise<void> => {
    for (const m of current()) {
      let ok = false;
      for (let i = 0; i < attempts && !ok; i++) ok = await pushFaults(m);
      if (!ok) log(`nemesis: could not set ${m.name}'s blocked peers`);
    }
  };
  const cut = async (pairs: [Member, Member][]): Promise<() => Promise<void>> => {
    const set = new Set(pairs.map(([a, b]) => pairKey(a, b)));
    cuts.push(set);
    await pushAll();
    return async () => {
      cuts.splice(cuts.indexOf(set), 1);
      await pushAll();
    };
  };
  const across = (left: readonly Member[], right: readonly Member[]): [Member, Member][] => left.flatMap((a) => right.map((b): [Member, Member] => [a, b]));

  /**
   * The watch checks, once the stores converged at `finalIndex` and the
   * final reads are in `history`: one last change (a sentinel key) that
   * every watcher still watching must see, a watch resumed from 500
   * indexes back on every member, then watch-check.ts over all the
   * records. Returns the number of events the watchers saw.
   */
  const checkHttpWatches = async (finalIndex: number | undefined, history: readonly Operation[]): Promise<number> => {
    // The sentinel's index is past every change of the run: a watcher that saw it missed nothing before.
    let end: number | undefined;
    const sentinelEnd = performance.now() + 30_000;
    for (let i = 0; end === undefined && performance.now() < sentinelEnd; i++) {
      const m = current()[i % current().length]!;
      const a = await httpRequest(control, `${m.spec.clientUrl}/v2/keys${PREFIX}/end`, { method: 'PUT', form: { value: `seed ${opts.seed}` }, timeoutMs: 5000 }).catch(() => undefined);
      if (a !== undefined && (a.status === 200 || a.status === 201)) end = (a.body as { node: { modifiedIndex: number } }).node.modifiedIndex;
      else await sleep(250);
    }
    if (end === undefined) {
      problems.push(`watch checks: could not write ${PREFIX}/end within 30 s`);
      await Promise.all(watchers.map(({ w }) => w.stop()));
      return watchers.reduce((n, { w }) => n + w.records.reduce((k, r) => k + r.events.length, 0), 0);
    }
    // Every watcher still watching gets there, or is reported by checkWatches.
    const deadline = new Promise<void>((r) => setTimeout(r, 30_000).unref());
    await Promise.race([Promise.all(watchers.map(({ w }) => w.until(end))), deadline]);
    await Promise.all(watchers.map(({ w }) => w.stop()));
    const records = watchers.flatMap(({ w }) => w.records);
    const events = records.reduce((n, r) => n + r.events.length, 0);
    log(
      `watches: ${records.length} records, ${events} events, ${records.filter(stayedConnected).length} connected throughout, ` +
        `${records.filter((r) => r.ended?.startsWith('401') === true).length} ended by 401, sentinel at ${end}`,
    );
    for (const r of records) {
      const what = [...r.faults, ...r.interruptions.map((i) => `${i.why} after ${i.reached}`), ...(r.ended ? [`ended: ${r.ended}`] : [])];
      log(`watch ${r.name}: [${r.startIndex}, ${r.reached}], ${r.events.length} events${what.length ? `; ${what.join('; ')}` : ''}`);
    }

    // Resumed from 500 indexes back, on every member: exactly what the watchers saw.
    const from = Math.max(1, (finalIndex ?? end) - 500);
    const reference = coveringRecord(records, from, end);
    const agent = new Agent({ keepAlive: true });
    const resumed = await Promise.all(current().map((m) => resumeWatch(agent, m, from, end)));
    agent.destroy();
    for (const r of resumed) {
      if (typeof r === 'string') problems.push(r);
      else if (reference === undefined) log(`watches: no watcher covered [${from}, ${end}], so the watch resumed on ${r.member} is not compared`);
      else problems.push(...checkResumedWatch(r, reference));
    }

    const last = new Map<string, string | null>();
    for (const o of history) if (o.client === -1 && o.input.f === 'read') last.set(o.key, o.output as string | null);
    const acknowledged = history.flatMap((o) =>
      o.outcome !== 'ok' ? []
      : o.input.f === 'write' ? [{ key: o.key, value: o.input.value }]
      : o.input.f === 'cas' && o.output === true ? [{ key: o.key, value: o.input.to }]
      : [],
    );
    problems.push(...checkWatches({ records, final: { index: end, values: last }, acknowledged }));
    return events;
  };

  /** Long-polls `m` from `from` to `to` as a client resuming after a break would; a string is a problem. */
  const resumeWatch = async (agent: Agent, m: Member, from: number, to: number): Promise<ResumedWatch | string> => {
    const events: WatchEvent[] = [];
    let waitIndex = from;
    for (let cuts = 0; waitIndex <= to && cuts < 10; ) {
      const url = `${m.spec.clientUrl}/v2/keys${PREFIX}?wait=true&recursive=true&waitIndex=${waitIndex}`;
      const a = await httpRequest(agent, url, { timeoutMs: 10_000 }).catch((e: Error) => e);
      if (a instanceof Error) return `a watch resumed from ${from} on ${m.name} failed at waitIndex ${waitIndex}: ${a.message}`;
      const body = a.body as { action?: string; node?: { key: string; value?: string; modifiedIndex: number }; errorCode?: number; cause?: string };
      if (a.status === 401 && body.errorCode === 401) return { member: m.name, from, to, events, cleared: `401 ${body.cause ?? ''}` };
      if (a.status === 200 && body.action !== undefined && body.node !== undefined) {
        events.push({ action: body.action, key: body.node.key, value: body.node.value ?? null, index: body.node.modifiedIndex });
        waitIndex = body.node.modifiedIndex + 1;
      } else if (a.status === 200 && a.body === '') {
        cuts++; // the member restored a snapshot under it: ask again
      } else {
        return `a watch resumed from ${from} on ${m.name} got ${a.status} ${JSON.stringify(a.body).slice(0, 200)} at waitIndex ${waitIndex}`;
      }
    }
    return waitIndex > to ? { member: m.name, from, to, events } : `a watch resumed from ${from} on ${m.name} was cut 10 times`;
  };

  try {
    // ---- the cluster ----
    const specs = await memberSpecs(Array.from({ length: size }, (_, i) => `n${i + 1}`));
    const bootstrap = ['--initial-cluster', initialCluster(specs), '--initial-cluster-state', 'new', '--initial-cluster-token', token];
    for (const s of specs) start(addMember(s, bootstrap));
    for (const m of members) if (!(await healthy(m, 60_000))) throw new Error(`kvd ${m.name} did not become healthy:\n${m.daemon?.log().slice(-3000)}`);
    for (const j of (await memberList(members[0]!)) ?? []) {
      const m = members.find((x) => x.spec.peerUrl === j.peerURLs[0]);
      if (m) m.id = j.id;
    }
    assert.ok(members.every((m) => m.id !== ''), 'every member is listed in /v2/members');
    log(`cluster up: ${members.map((m) => `${m.name}=${m.id}`).join(' ')}`);

    // Watchers from the first index, so they cover every change of the load.
    for (const m of members) watch(m, 'long-poll', 1);
    watch(members[0]!, 'stream', 1);

    const keys = Array.from({ length: opts.keys ?? 3 }, (_, i) => `${PREFIX}/r${i}`);
    const workload = runWorkload({
      clients: opts.clients ?? 5,
      keys,
      endpoints: () => current().map((m) => m.endpoint),
      now,
      sleep,
      random: clientRandom,
      thinkMs: 10,
    });

    // ---- the nemesis ----
    let joined = 0;
    let stopNemesis = false;

    const addFresh = async (): Promise<void> => {
      const name = `j${++joined}`;
      const [spec] = await memberSpecs([name]);
      let id: string | undefined;
      const end = performance.now() + 30_000;
      for (let attempt = 0; performance.now() < end && id === undefined; attempt++) {
        if (attempt > 0) await sleep(500);
        const l = await leader();
        if (!l) continue;
        const a = await call(l, '/v2/members', { method: 'POST', json: { peerURLs: [spec!.peerUrl] }, timeoutMs: requestTimeoutMs }).catch((e: Error) => e);
        if (!(a instanceof Error) && a.status === 201) id = (a.body as MemberJson).id;
        else if (!(a instanceof Error) && a.status === 409) id = (await memberList(l))?.find((j) => j.peerURLs.includes(spec!.peerUrl))?.id;
        else log(`membership: adding ${name} failed (${a instanceof Error ? a.message : `${a.status} ${JSON.stringify(a.body)}`}), retrying`);
      }
      if (id === undefined) {
        problems.push(`membership: could not add ${name} within 30 s`);
        return;
      }
      const listed = (await memberList((await leader()) ?? current().find(isUp)!)) ?? [];
      const names = listed.map((j) => `${members.find((x) => x.spec.peerUrl === j.peerURLs[0])?.name ?? (j.name || name)}=${j.peerURLs[0]}`);
      if (!listed.some((j) => j.id === id)) names.push(`${name}=${spec!.peerUrl}`);
      const m = addMember(spec!, ['--initial-cluster', names.join(','), '--initial-cluster-state', 'existing', '--initial-cluster-token', token]);
      m.id = id;
      start(m);
      // From the newest change any watcher saw: older ones may be gone from what the new member gets.
      watch(m, 'long-poll', Math.max(...watchers.map(({ w }) => w.current.reached)) + 1);
      log(`membership: added ${name}=${id}`);
    };

    /** Starts a fault; resolves with its undo. */
    const inject = async (f: ProcessFault): Promise<(() => Promise<void>) | undefined> => {
      const up = current().filter(isUp);
      switch (f) {
        case 'kill':
        case 'kill-leader': {
          const victim = f === 'kill-leader' ? await leader() : shuffle(up)[0];
          if (!victim || !isUp(victim)) return undefined;
          await kill(victim);
          log(`nemesis: SIGKILL ${victim.name}`);
          return async () => {
            if (victim.removed || victim.daemon !== undefined) return;
            start(victim);
            log(`nemesis: restarted ${victim.name}`);
          };
        }
        case 'pause':
        case 'pause-leader': {
          const victim = f === 'pause-leader' ? await leader() : shuffle(up)[0];
          if (!victim || !isUp(victim)) return undefined;
          const d = victim.daemon!;
          d.child.kill('SIGSTOP');
          victim.paused = true;
          disturb(victim, 'SIGSTOP');
          log(`nemesis: SIGSTOP ${victim.name}`);
          return async () => {
            if (victim.daemon !== d) return;
            d.child.kill('SIGCONT');
            victim.paused = false;
            log(`nemesis: SIGCONT ${victim.name}`);
            await pushFaults(victim); // it may have missed a heal while stopped
          };
        }
        case 'partition': {
          const s = shuffle(current());
          const at = 1 + Math.floor(nemesisRandom() * (s.length - 1));
          log(`nemesis: partition ${s.slice(0, at).map((m) => m.name).join(',')} | ${s.slice(at).map((m) => m.name).join(',')}`);
          return cut(across(s.slice(0, at), s.slice(at)));
        }
        case 'isolate-leader': {
          const l = await leader();
          if (!l) return undefined;
          log(`nemesis: isolate leader ${l.name}`);
          return cut(across([l], current().filter((m) => m !== l)));
        }
        case 'bridge': {
          // Two halves that cannot see each other, and one member that sees both.
          const s = shuffle(current());
          if (s.length < 3) return undefined;
          const mid = Math.floor(s.length / 2);
          log(`nemesis: bridge ${s.slice(0, mid).map((m) => m.name).join(',')} | ${s[mid]!.name} | ${s.slice(mid + 1).map((m) => m.name).join(',')}`);
          return cut(across(s.slice(0, mid), s.slice(mid + 1)));
        }
        case 'membership': {
          // Remove a member (only from a full cluster), then add a fresh one:
          // removed IDs are never reused, so it gets a new name and data dir.
          const l = await leader();
          const list = l ? await memberList(l) : undefined;
          if (!l || !list) return undefined;
          await forget(list); // an earlier removal that answered ambiguously may have committed since
          if (current().length < size) return undefined;
          const victim = shuffle(up.filter(isUp))[0];
          if (!victim) return undefined;
          const a = await call(l, `/v2/members/${victim.id}`, { method: 'DELETE', timeoutMs: requestTimeoutMs }).catch((e: Error) => e);
          let removed = !(a instanceof Error) && a.status === 204;
          if (!removed) {
            // Refused, or no answer: it may still commit. Look before deciding.
            await sleep(2 * electionMs);
            const l2 = (await leader()) ?? l;
            const after = await memberList(l2);
            removed = after !== undefined && !after.some((j) => j.id === victim.id);
            if (!removed) {
              log(`membership: removing ${victim.name} did not happen (${a instanceof Error ? a.message : a.status})`);
              return undefined;
            }
          }
          victim.removed = true;
          await kill(victim);
          log(`nemesis: removed ${victim.name}`);
          return addFresh;
        }
      }
    };

    const deck: ProcessFault[] = [];
    const nemesis = (async () => {
      await sleep(500);
      while (!stopNemesis) {
        const count = 1 + Math.floor(nemesisRandom() * (opts.combine ?? 2));
        const chosen: ProcessFault[] = [];
        for (let i = 0; i < count * 3 && chosen.length < count; i++) {
          if (deck.length === 0) deck.push(...shuffle(enabled));
          const f = deck.shift()!;
          if (chosen.includes(f)) deck.push(f);
          else chosen.push(f);
        }
        const undos: { f: ProcessFault; undo: () => Promise<void> }[] = [];
        for (const f of chosen) {
          const undo = await inject(f);
          if (undo) {
            faults[f] = (faults[f] ?? 0) + 1;
            undos.push({ f, undo });
          } else {
            deck.unshift(f); // not possible now (no leader, cluster not full): try it again next round
          }
        }
        // Long enough for a paused or cut-off leader to be replaced.
        await sleep(2 * electionMs + nemesisRandom() * 4 * electionMs);
        // Last in, first out; but a new member joins last, once the members
        // killed or paused alongside are back to make its quorum.
        undos.reverse().sort((a, b) => Number(a.f === 'membership') - Number(b.f === 'membership'));
        for (const { undo } of undos) await undo();
        await sleep(electionMs + nemesisRandom() * 3 * electionMs);
      }
    })();

    await sleep(opts.durationMs ?? 30_000);
    workload.stop();
    stopNemesis = true;
    await nemesis;
    const { history, stats } = await workload.done;
    log(`load stopped: ${history.length} operations`);

    // ---- heal, bring everyone back, final reads ----
    for (const m of members) {
      if (m.paused && m.daemon) {
        m.daemon.child.kill('SIGCONT');
        m.paused = false;
      }
    }
    cuts.length = 0;
    await pushAll();
    for (const m of current()) {
      if (m.daemon !== undefined && exitedRemoved(m.daemon)) {
        // A removal that answered ambiguously committed later.
        log(`${m.name} exited: removed after all`);
        m.removed = true;
        continue;
      }
      if (!running(m.daemon)) m.daemon = undefined; // ended on its own: reported below
      if (m.daemon === undefined) start(m);
    }
    // A removal that answered ambiguously may have committed after all.
    let listed: MemberJson[] | undefined;
    for (const end = performance.now() + 60_000; listed === undefined && performance.now() < end; ) {
      const l = await leader();
      listed = l ? await memberList(l) : undefined;
      if (listed === undefined) await sleep(200);
    }
    if (listed === undefined) {
      problems.push('no leader answered /v2/members within 60 s after healing');
    } else {
      await forget(listed);
      for (const j of listed) if (!members.some((m) => m.id === j.id)) problems.push(`member ${j.id} (${j.peerURLs.join(',')}) is listed but was never started`);
    }
    await Promise.all(
      current().map(async (m) => {
        if (!(await healthy(m, 60_000))) problems.push(`${m.name} did not become healthy within 60 s after healing`);
      }),
    );
    await pushAll(10);

    // Retried (a failed read is not part of the history) while the members settle.
    const readsEnd = performance.now() + 30_000;
    for (const m of current()) {
      for (const key of keys) {
        for (;;) {
          const call0 = now();
          const r = await m.endpoint.read(key);
          if (r.type === 'ok') {
            history.push({ client: -1, key, input: { f: 'read' }, output: r.value, outcome: 'ok', call: call0, ret: now() });
            break;
          }
          if (performance.now() > readsEnd) {
            problems.push(`final read of ${key} on ${m.name} failed after healing: ${r.why}`);
            break;
          }
          await sleep(250);
        }
      }
    }

    // ---- checks ----
    const c0 = performance.now();
    const check = checkHistory(history, { seed: opts.seed });
    const checkMs = performance.now() - c0;

    // Identical stores: the same tree at the same X-Etcd-Index on every member.
    let finalIndex: number | undefined;
    const dumpEnd = performance.now() + 30_000;
    for (;;) {
      const dumps = await Promise.all(
        current().map(async (m) => ({ m, a: await call(m, '/v2/keys/?recursive=true&sorted=true', { timeoutMs: 5000 }).catch(() => undefined) })),
      );
      const indexes = dumps.map((d) => d.a?.etcdIndex);
      if (indexes.every((i) => i !== undefined && i === indexes[0])) {
        finalIndex = indexes[0];
        const first = JSON.stringify(dumps[0]!.a!.body);
        for (const d of dumps.slice(1)) {
          if (JSON.stringify(d.a!.body) !== first) problems.push(`stores differ at index ${finalIndex}: ${dumps[0]!.m.name} vs ${d.m.name}`);
        }
        break;
      }
      if (performance.now() > dumpEnd) {
        problems.push(`members never reached the same index: ${dumps.map((d) => `${d.m.name}=${d.a?.etcdIndex ?? 'no answer'}`).join(' ')}`);
        break;
      }
      await sleep(100);
    }

    const watchEvents = await checkHttpWatches(finalIndex, history);

    // No member process ended on its own, except one removed from the cluster.
    for (const m of members) {
      for (const d of m.incarnations) {
        if (!running(d) && !m.killed.has(d) && !(m.removed && exitedRemoved(d))) {
          problems.push(`${m.name} exited on its own (code ${d.child.exitCode}, signal ${d.child.signalCode}):\n${d.log().slice(-2000)}`);
        }
      }
    }

    const watches = watchers.flatMap(({ w }) => w.records);
    return { seed: opts.seed, history, stats, faults, check, checkMs, watchEvents, watches, processes, finalIndex, problems, logs: logsOf(members) };
  } finally {
    // Stopped before the members go, so the kills below are not faults of any record.
    await Promise.all(watchers.map(({ w }) => w.stop()));
    watchers.length = 0;
    for (const m of members) {
      if (m.paused) m.daemon?.child.kill('SIGCONT');
      await kill(m);
      m.endpoint.close();
    }
    control.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function logsOf(members: readonly Member[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of members) out[m.name] = m.incarnations.map((d) => d.log()).join('\n--- restarted ---\n').slice(-4000);
  return out;
}

/** Runs one configuration and fails with the checker's report and the command that reruns it. */
export async function assertProcessRunPasses(opts: ProcessRunOptions): Promise<ProcessRunReport> {
  const r = await runProcessJepsen(opts);
  const { log: _log, ...rerunnable } = opts;
  const rerun = `rerun (same seed: the same choices, not the same timing): node --conditions=kv-source --import tsx test/jepsen/process-run.ts '${JSON.stringify(rerunnable)}'`;
  if (r.check.linearizable !== true) assert.fail(`${r.check.report}\n${rerun}`);
  if (r.problems.length > 0) {
    const logs = Object.entries(r.logs).map(([n, l]) => `--- ${n} ---\n${l}`).join('\n');
    assert.fail(`${r.problems.join('\n')}\n${rerun}\n${logs}`);
  }
  console.log(summary(r));
  return r;
}

function summary(r: ProcessRunReport): string {
  const faults = Object.entries(r.faults).map(([k, v]) => `${k}×${v}`).join(' ');
  const steady = r.watches.filter(stayedConnected).length;
  return (
    `# seed ${r.seed}: ${r.history.length} ops (${r.stats.ok} ok, ${r.stats.fail} failed, ${r.stats.unknown} unknown), ` +
    `faults ${faults || 'none'}, ${r.processes} kvd processes, final index ${r.finalIndex}, ` +
    `${r.watchEvents} watch events in ${r.watches.length} watches (${steady} connected throughout), checked in ${r.checkMs.toFixed(0)} ms`
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const opts = JSON.parse(process.argv[2] ?? '{}') as ProcessRunOptions;
  if (typeof opts.seed !== 'number') {
    console.error(`usage: process-run.ts '{"seed":N, ...ProcessRunOptions}'`);
    process.exit(2);
  }
  const r = await runProcessJepsen({ ...opts, log: (l) => console.error(l) });
  console.log(summary(r));
  console.log(`clients: ${JSON.stringify(r.stats.byWhy)}`);
  if (r.check.linearizable !== true) console.log(r.check.report);
  for (const p of r.problems) console.log(`problem: ${p}`);
  if (r.check.linearizable !== true || r.problems.length > 0) for (const [n, l] of Object.entries(r.logs)) console.log(`--- ${n} ---\n${l}`);
  process.exit(r.check.linearizable === true && r.problems.length === 0 ? 0 : 1);
}
