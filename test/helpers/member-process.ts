// Runs test/fixtures/member.ts as a child process and talks to it in JSON
// lines: the harness of the multi-process cluster tests and benchmarks.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../examples/local-processes.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/member.ts', import.meta.url));

export interface MemberConfig {
  name: string;
  dataDir: string;
  listen: string;
  initialCluster: string;
  initialClusterState?: 'new' | 'existing';
  token?: string;
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  requestTimeoutMs?: number;
  snapshotCount?: number;
}

export interface Reply<T = unknown> {
  ok: boolean;
  result?: T;
  error?: { code?: string | number; message: string };
  ms: number;
}

export { freePort };

export class MemberProcess {
  readonly child: ChildProcess;
  id = '';
  private seq = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private readonly events: Record<string, unknown>[] = [];
  private readonly eventWaiters: { pred: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';

  constructor(readonly cfg: MemberConfig) {
    this.child = spawn(process.execPath, ['--conditions=kv-source', '--import', 'tsx', FIXTURE, JSON.stringify(cfg)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    const rl = createInterface({ input: this.child.stdout! });
    rl.on('line', (line) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (typeof o.id === 'number' && this.waiting.has(o.id)) {
        const w = this.waiting.get(o.id)!;
        this.waiting.delete(o.id);
        w(o as unknown as Reply);
        return;
      }
      if (typeof o.event === 'string') {
        this.events.push(o);
        for (const w of [...this.eventWaiters]) {
          if (w.pred(o)) {
            this.eventWaiters.splice(this.eventWaiters.indexOf(w), 1);
            w.resolve(o);
          }
        }
      }
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.exited.then(() => {
      for (const w of this.waiting.values()) w({ ok: false, error: { message: 'process exited' }, ms: 0 });
      this.waiting.clear();
    });
  }

  /** Waits for an event line matching `pred` (including one already seen). */
  event(pred: (e: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.cfg.name}: no matching event within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`)), timeoutMs);
      this.eventWaiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }

  async ready(): Promise<this> {
    const e = await this.event((x) => x.event === 'ready' || x.event === 'error');
    if (e.event === 'error') throw new Error(`${this.cfg.name} failed to start: ${JSON.stringify(e.error)}`);
    this.id = e.id as string;
    return this;
  }

  request<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<Reply<T>> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ ok: false, error: { message: `no answer within ${timeoutMs} ms` }, ms: timeoutMs });
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r as Reply<T>);
      });
      this.child.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }
}
