// A watcher of one kvd over etcd v2's HTTP API, as real v2 clients watch:
// either a long-poll loop (`GET /v2/keys/<prefix>?wait=true&recursive=true
// &waitIndex=<last+1>`, one event per answer) or one `stream=true`
// request that delivers every event until the server or the connection
// ends it, reopened from the last index + 1. It records what it saw and
// every interruption; watch-check.ts judges the records.
//
// What the server may answer (packages/cli/src/http/keys.ts):
//   - 200 and an event: the next change at or after waitIndex.
//   - 200 and an empty body (long poll), or the end of a stream: the watch
//     was ended under it (the member restored a snapshot: etcd's 400
//     "watcher is cleared", after the headers went out). Resume.
//   - 500 with errorCode 400: the same, before the headers went out. Resume.
//   - 401 with errorCode 401: waitIndex is older than the 1,000 events the
//     history keeps. This record ends; a client would re-read and watch
//     from the answer's index + 1, so a new record starts there.
//   - a connection error (the member was killed or is restarting). Resume.
import { Agent, request, type IncomingMessage } from 'node:http';

/** One change as a watcher saw it. `value` is null for a delete or expiry. */
export interface WatchEvent {
  readonly action: string;
  readonly key: string;
  readonly value: string | null;
  /** The event's node.modifiedIndex. */
  readonly index: number;
}

/** What one watch saw, from `startIndex` until it ended or the run stopped it. */
export interface WatchRecord {
  /** For reports: member, mode and, after a 401, the generation (`n2 long-poll#2`). */
  readonly name: string;
  readonly member: string;
  readonly mode: 'long-poll' | 'stream';
  /** The first waitIndex it asked for. */
  readonly startIndex: number;
  readonly events: WatchEvent[];
  /**
   * The index up to which it claims to have seen every change of the
   * prefix: the next waitIndex − 1. Invariant: `startIndex - 1 <= reached`.
   */
  reached: number;
  /** Failed requests and cut watches, with `reached` at the time; each was resumed from `reached + 1`. */
  readonly interruptions: { why: string; reached: number }[];
  /** What the harness did to its member while it watched (SIGKILL, SIGSTOP, removal). */
  readonly faults: string[];
  /** Why it ended before the run stopped it: `401 …` (history cleared) or `member removed`. */
  ended: string | undefined;
}

/** Whether a record watched without a fault on its member, a failed request or a cut, to the end of the run. */
export function stayedConnected(r: WatchRecord): boolean {
  return r.faults.length === 0 && r.interruptions.length === 0 && r.ended === undefined;
}

export interface HttpWatcherOptions {
  /** The member's name (for records). */
  member: string;
  clientUrl: string;
  /** The key watched, recursively (`/jepsen`). */
  prefix: string;
  mode: 'long-poll' | 'stream';
  /** The first waitIndex. */
  waitIndex: number;
  /** The member left the cluster for good: end the watch at its next failure instead of retrying. */
  gone(): boolean;
  /** Waits before retrying after a connection error (nothing to await: the member is down or restarting). */
  backoff(): Promise<void>;
}

type Answer =
  | { type: 'answered'; cut: string | undefined }
  | { type: 'cleared'; why: string; index: number }
  | { type: 'failed'; why: string }
  | { type: 'stopped' };

interface EventJson {
  action?: string;
  node?: { key?: string; value?: string; modifiedIndex?: number };
  errorCode?: number;
  cause?: string;
  index?: number;
}

function toEvent(j: EventJson): WatchEvent | undefined {
  if (typeof j.action !== 'string' || typeof j.node?.key !== 'string' || typeof j.node.modifiedIndex !== 'number') return undefined;
  return { action: j.action, key: j.node.key, value: j.node.value ?? null, index: j.node.modifiedIndex };
}

/**
 * Watches until {@link HttpWatcher.stop}; `records` grows by one each time
 * the history was cleared under it.
 */
export class HttpWatcher {
  readonly records: WatchRecord[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly ac = new AbortController();
  private readonly waiters = new Set<() => void>();
  private finished = false;
  /** Whether any request got an answer (the member was listening). */
  private answered = false;
  /** Settles when the watch loop ended (stopped, or the member is gone). */
  readonly done: Promise<void>;

  constructor(private readonly opts: HttpWatcherOptions) {
    this.records.push(this.newRecord(opts.waitIndex));
    this.done = this.loop().finally(() => {
      this.finished = true;
      this.notify();
    });
  }

  /** The record being written now. */
  get current(): WatchRecord {
    return this.records.at(-1)!;
  }

  /** Resolves true once the current record reached `index`, false if the watch ended first. */
  until(index: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.current.reached >= index || this.finished || this.current.ended !== undefined) {
          this.waiters.delete(check);
          resolve(this.current.reached >= index);
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Ends the watch (an open request is aborted, not counted as a failure). */
  async stop(): Promise<void> {
    this.ac.abort();
    await this.done;
    this.agent.destroy();
  }

  private newRecord(startIndex: number): WatchRecord {
    const generation = this.records.length + 1;
    return {
      name: `${this.opts.member} ${this.opts.mode}${generation > 1 ? `#${generation}` : ''}`,
      member: this.opts.member,
      mode: this.opts.mode,
      startIndex,
      events: [],
      reached: startIndex - 1,
      interruptions: [],
      faults: [],
      ended: undefined,
    };
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private async loop(): Promise<void> {
    while (!this.ac.signal.aborted) {
      const r = this.current;
      const a = await this.ask(r.reached + 1, (e) => {
        r.events.push(e);
        // Resume from the event's index + 1, as etcd's clients do; never back.
        r.reached = Math.max(r.reached, e.index);
        this.notify();
      });
      if (a.type === 'stopped') return;
      if (a.type === 'answered') {
        if (a.cut !== undefined) r.interruptions.push({ why: a.cut, reached: r.reached });
        continue;
      }
      if (a.type === 'cleared') {
        r.ended = a.why;
        this.records.push(this.newRecord(a.index + 1));
        this.notify();
        continue;
      }
      // A member that is down refuses every retry: one entry for the lot. A
      // refusal before the first answer (a member still starting) is no
      // break: the watch was never established.
      const last = r.interruptions.at(-1);
      const established = this.answered || a.why !== 'ECONNREFUSED';
      if (established && (last?.why !== a.why || last.reached !== r.reached)) r.interruptions.push({ why: a.why, reached: r.reached });
      if (this.opts.gone()) {
        r.ended = 'member removed';
        return;
      }
      await this.opts.backoff();
    }
  }

  /** One request from `waitIndex`: a long poll's one event, or a stream's events until it ends. */
  private ask(waitIndex: number, onEvent: (e: WatchEvent) => void): Promise<Answer> {
    const stream = this.opts.mode === 'stream';
    const url = `${this.opts.clientUrl}/v2/keys${this.opts.prefix}?wait=true&recursive=true&waitIndex=${waitIndex}${stream ? '&stream=true' : ''}`;
    return new Promise<Answer>((resolve) => {
      let settled = false;
      const done = (a: Answer): void => {
        if (settled) return;
        settled = true;
        if (a.type === 'failed') req.destroy();
        resolve(this.ac.signal.aborted ? { type: 'stopped' } : a);
      };
      const req = request(url, { agent: this.agent, signal: this.ac.signal }, (res: IncomingMessage) => {
        this.answered = true;
        let text = '';
        let seen = 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (settled) return;
          text += chunk;
          if (!stream || res.statusCode !== 200) return;
          // A stream: one JSON event a line.
          for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
            const line = text.slice(0, nl).trim();
            text = text.slice(nl + 1);
            if (line === '') continue;
            const e = parseEvent(line);
            if (e === undefined) return done({ type: 'failed', why: `stream: not an event: ${line.slice(0, 120)}` });
            seen++;
            onEvent(e);
          }
        });
        res.on('error', (e: NodeJS.ErrnoException) => done(failure(e)));
        res.on('close', () => {
          if (!res.complete) return done({ type: 'failed', why: seen > 0 ? `stream cut after ${seen} events: connection lost` : 'connection lost' });
          const body = text.trim();
          if (res.statusCode === 200) {
            if (stream) return done({ type: 'answered', cut: `stream ended after ${seen} events` });
            if (body === '') return done({ type: 'answered', cut: 'empty answer (watcher cleared)' });
            const e = parseEvent(body);
            if (e === undefined) return done({ type: 'failed', why: `not an event: ${body.slice(0, 120)}` });
            onEvent(e);
            return done({ type: 'answered', cut: undefined });
          }
          let j: EventJson = {};
          try {
            j = JSON.parse(body) as EventJson;
          } catch {
            // not JSON: reported as is
          }
          if (res.statusCode === 401 && j.errorCode === 401 && typeof j.index === 'number') {
            return done({ type: 'cleared', why: `401 ${j.cause ?? ''}`.trim(), index: j.index });
          }
          done({ type: 'failed', why: `${res.statusCode} ${body.slice(0, 120)}` });
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => done(failure(e)));
      req.end();
    });
  }
}

function parseEvent(text: string): WatchEvent | undefined {
  try {
    return toEvent(JSON.parse(text) as EventJson);
  } catch {
    return undefined;
  }
}

function failure(e: NodeJS.ErrnoException): Answer {
  return { type: 'failed', why: e.code ?? e.message };
}
