// Thousands of open watch connections over HTTP, with bounded memory: 2,500
// long polls (`?wait=true`) and 200 streams (`&stream=true`) over real
// sockets against serveHttp on two members of a three-member cluster. Every
// watch gets the next change exactly once; clients that go away free their
// watchers (the store's count and the /metrics gauges return to where they
// were); the heap held per open connection is bounded and given back when
// it closes; and a stream consumer that stops reading is cut off at the
// server's buffer limit instead of growing memory without bound.
//
// No times are asserted. Heap figures are asserted only when a garbage
// collector can be called (`global.gc`, or V8's flag turned on at run time
// as Jest's leak detector does); they are printed as a diagnostic line
// either way.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMemoryNetwork } from '@kv/raft/testing';
import { createNode, type KvNode } from '@kv/store';
import { serveHttp, type HttpServerHandle } from '../../src/index.ts';
import { call, waitFor } from './helpers.ts';

const LONG_POLLS = 2500;
const STREAMS = 200;
/** Sockets opened at once (the listen backlog is 511). */
const BATCH = 400;

function findGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
const gc = findGc();

/** Heap in use after a full collection (or as it is, without a collector). */
async function heapUsed(): Promise<number> {
  if (gc) {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
  }
  return process.memoryUsage().heapUsed;
}

const KiB = 1024;

/**
 * One watch request on its own socket, with the response parsed by hand
 * (status line, headers, chunked body, one JSON event per line) so that
 * thousands cost little on the client side.
 */
class RawWatch {
  readonly socket: Socket;
  status = 0;
  events: { action: string; node: { key: string; value?: string; modifiedIndex: number } }[] = [];
  /** The chunked body's last chunk arrived: the server ended the response. */
  ended = false;
  /** The socket closed (by either side). */
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  private headersDone = false;
  private line = '';

  constructor(port: number, path: string) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.take(d));
    this.socket.on('error', () => {});
    this.socket.on('close', () => void (this.closed = true));
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  }

  private take(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    if (!this.headersDone) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      this.status = Number(head.split(' ')[1]);
      assert.match(head, /transfer-encoding: chunked/i);
      this.headersDone = true;
      this.buf = this.buf.subarray(end + 4);
    }
    for (;;) {
      if (this.ended) return;
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const size = parseInt(this.buf.subarray(0, eol).toString('latin1'), 16);
      if (size === 0) {
        this.ended = true;
        return;
      }
      if (this.buf.length < eol + 2 + size + 2) return;
      this.line += this.buf.subarray(eol + 2, eol + 2 + size).toString('utf8');
      this.buf = this.buf.subarray(eol + 2 + size + 2);
      let nl: number;
      while ((nl = this.line.indexOf('\n')) >= 0) {
        this.events.push(JSON.parse(this.line.slice(0, nl)));
        this.line = this.line.slice(nl + 1);
      }
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** The value of an unlabelled sample in a Prometheus text exposition. */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `no ${name} in /metrics`);
  return Number(m[1]);
}

describe('watches over HTTP under load', { timeout: 60_000 }, () => {
  let nodes: KvNode[];
  /** The leader and a follower, each with its HTTP server. */
  let served: { node: KvNode; http: HttpServerHandle; port: number }[];
  let baseline: number[];

  before(async () => {
    const net = createMemoryNetwork({ seed: 4242 });
    const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' };
    nodes = await Promise.all(
      ['m1', 'm2', 'm3'].map((name) => createNode({ name, initialCluster, transport: net.transport(name), watchBufferSize: 100 })),
    );
    await waitFor(() => nodes.some((n) => n.status().isLeader), 'a leader');
    const leader = nodes.find((n) => n.status().isLeader)!;
    const follower = nodes.find((n) => !n.status().isLeader)!;
    served = await Promise.all(
      [leader, follower].map(async (node) => {
        const http = await serveHttp(node, { listen: 'http://127.0.0.1:0' });
        return { node, http, port: portOf(http.urls[0]) };
      }),
    );
    baseline = served.map((s) => s.node.status().watchers);
  });

  after(async () => {
    await Promise.all(served.map((s) => s.http.close()));
    await Promise.all(nodes.map((n) => n.close()));
  });

  const watchers = (): number[] => served.map((s) => s.node.status().watchers);

  /** Opens `n` watches spread over both servers, `BATCH` at a time, each registered before the next batch. */
  async function open(n: number, path: (i: number) => string): Promise<RawWatch[]> {
    const out: RawWatch[] = [];
    const start = watchers();
    for (let i = 0; i < n; i += BATCH) {
      for (let j = i; j < Math.min(n, i + BATCH); j++) out.push(new RawWatch(served[j % 2].port, path(j)));
      const want = served.map((_, k) => start[k] + Math.ceil((out.length - k) / 2));
      await waitFor(() => watchers().every((w, k) => w === want[k]), `${out.length} watchers registered (have ${watchers()})`, 20_000);
    }
    return out;
  }

  async function assertBaseline(what: string): Promise<void> {
    await waitFor(() => watchers().every((w, k) => w === baseline[k]), `${what}: watchers back to ${baseline} (have ${watchers()})`, 20_000);
    for (const s of served) {
      const m = await call(`http://127.0.0.1:${s.port}`, 'GET', '/metrics');
      assert.equal(sample(m.text, 'kv_watchers'), s.node.status().watchers, `${what}: kv_watchers gauge`);
      assert.equal(sample(m.text, 'kv_http_watchers'), 0, `${what}: kv_http_watchers gauge`);
    }
  }

  test(`${LONG_POLLS} long polls on two members each get the next change exactly once, then free their watchers`, async () => {
    const polls = await open(LONG_POLLS, (i) => (i % 4 < 2 ? '/v2/keys/load/a?wait=true' : '/v2/keys/load?wait=true&recursive=true'));
    const put = await call(`http://127.0.0.1:${served[0].port}`, 'PUT', '/v2/keys/load/a', { value: 'hello' });
    assert.equal(put.status, 201, put.text);
    const index = put.json.node.modifiedIndex as number;
    await waitFor(() => polls.every((p) => p.ended), `every long poll answered (${polls.filter((p) => p.ended).length} of ${polls.length})`, 20_000);
    for (const p of polls) {
      assert.equal(p.status, 200);
      assert.equal(p.events.length, 1, 'exactly one event');
      assert.equal(p.events[0].action, 'set');
      assert.equal(p.events[0].node.key, '/load/a');
      assert.equal(p.events[0].node.value, 'hello');
      assert.equal(p.events[0].node.modifiedIndex, index);
    }
    // A second change reaches nobody: every long poll has ended.
    await call(`http://127.0.0.1:${served[0].port}`, 'PUT', '/v2/keys/load/a', { value: 'again' });
    await new Promise((r) => setImmediate(r));
    assert.ok(polls.every((p) => p.events.length === 1));
    for (const p of polls) p.close();
    await assertBaseline('after the long polls were answered');
  });

  test(`${LONG_POLLS} clients that go away free their watchers, and the heap they held`, async () => {
    const heap0 = await heapUsed();
    const polls = await open(LONG_POLLS, (i) => `/v2/keys/idle/${i % 50}?wait=true`);
    const heapOpen = await heapUsed();
    for (const p of polls) p.close();
    await assertBaseline('after the clients closed');
    await waitFor(() => polls.every((p) => p.closed), 'client sockets closed');
    polls.length = 0;
    const heapClosed = await heapUsed();
    const perOpen = (heapOpen - heap0) / LONG_POLLS;
    const perClosed = (heapClosed - heap0) / LONG_POLLS;
    console.log(
      `# watch-load: heap ${(heap0 / 2 ** 20).toFixed(1)} MiB before, +${(perOpen / KiB).toFixed(1)} KiB per open connection ` +
        `(client and server side), +${(perClosed / KiB).toFixed(2)} KiB per connection after they closed` +
        (gc ? '' : ' (no gc: not asserted)'),
    );
    if (gc) {
      assert.ok(perOpen < 64 * KiB, `${(perOpen / KiB).toFixed(1)} KiB per open connection`);
      assert.ok(perClosed < 2 * KiB, `${(perClosed / KiB).toFixed(2)} KiB per connection kept after close`);
    }
  });

  test(`${STREAMS} streams each get every change once, in order, and free their watchers when closed`, async () => {
    const streams = await open(STREAMS, () => '/v2/keys/load/s?wait=true&stream=true&recursive=true');
    const indexes: number[] = [];
    for (const v of ['1', '2', '3']) {
      const r = await call(`http://127.0.0.1:${served[0].port}`, 'PUT', `/v2/keys/load/s/${v}`, { value: v });
      indexes.push(r.json.node.modifiedIndex);
    }
    await waitFor(() => streams.every((s) => s.events.length >= 3), 'every stream got three events', 20_000);
    await new Promise((r) => setTimeout(r, 50));
    for (const s of streams) {
      assert.equal(s.status, 200);
      assert.deepEqual(
        s.events.map((e) => [e.node.key, e.node.value, e.node.modifiedIndex]),
        [['/load/s/1', '1', indexes[0]], ['/load/s/2', '2', indexes[1]], ['/load/s/3', '3', indexes[2]]],
      );
      assert.equal(s.ended, false, 'a stream stays open');
    }
    for (const s of streams) s.close();
    await assertBaseline('after the streams closed');
  });

  test('a stream consumer that stops reading is cut off at the buffer limit; a reading one gets everything', async () => {
    const [slow, fast] = [
      new RawWatch(served[1].port, '/v2/keys/flood?wait=true&stream=true&recursive=true'),
      new RawWatch(served[1].port, '/v2/keys/flood?wait=true&stream=true&recursive=true'),
    ];
    await waitFor(() => watchers()[1] === baseline[1] + 2, 'two stream watchers');
    slow.socket.pause();
    const heap0 = await heapUsed();
    // 16 KiB values until the server lets the slow stream go (the socket
    // buffers and the server's 1 MiB backlog limit hold a few MiB), then a
    // few more; at most 32 MiB.
    const value = 'x'.repeat(16 * KiB);
    let writes = 0;
    let cutAt = -1;
    const writer = async (): Promise<void> => {
      while (writes < 2048 && (cutAt < 0 || writes < cutAt + 64)) {
        const i = writes++;
        const r = await call(`http://127.0.0.1:${served[0].port}`, 'PUT', `/v2/keys/flood/${i % 64}`, { value });
        assert.equal(r.status < 300, true, r.text);
        if (cutAt < 0 && watchers()[1] === baseline[1] + 1) cutAt = i;
      }
    };
    await Promise.all(Array.from({ length: 16 }, writer));
    await waitFor(() => fast.events.length === writes, `the reading stream got all ${writes} events (has ${fast.events.length})`, 20_000);
    // The slow stream's watcher was released while its client still read nothing.
    assert.equal(watchers()[1], baseline[1] + 1, 'only the reading stream is still watching');
    assert.ok(cutAt >= 0, 'the slow stream was cut off during the flood');
    // The fast consumer saw every change in order.
    const idx = fast.events.map((e) => e.node.modifiedIndex);
    assert.ok(idx.every((x, i) => i === 0 || x > idx[i - 1]), 'in index order');
    // Reading again, the slow client gets what was buffered — a gapless run
    // from the first change — and then the end of the stream.
    slow.socket.resume();
    await waitFor(() => slow.ended || slow.closed, 'the slow stream to end', 20_000);
    assert.ok(slow.events.length < writes, `cut off: ${slow.events.length} of ${writes} events`);
    assert.deepEqual(
      slow.events.map((e) => e.node.modifiedIndex),
      idx.slice(0, slow.events.length),
      'a prefix of the changes, without gaps',
    );
    // What the server had handed the slow socket when it stopped: its 1 MiB
    // backlog limit plus what the kernel's socket buffers took.
    const heldMiB = (slow.events.length * value.length) / 2 ** 20;
    const heapFlooded = await heapUsed();
    console.log(
      `# watch-load: slow stream cut off after write ${cutAt} of ${writes}, having been sent ${slow.events.length} events ` +
        `(${heldMiB.toFixed(1)} MiB); heap +${((heapFlooded - heap0) / 2 ** 20).toFixed(1)} MiB over the flood ` +
        `(${((writes * value.length) / 2 ** 20).toFixed(0)} MiB written, held by three in-memory Raft logs, the history and both clients)` +
        (gc ? '' : ' (no gc)'),
    );
    slow.close();
    fast.close();
    await assertBaseline('after the flood');
  });
});
