// The handshake state machines driven frame by frame, without sockets: what
// each side answers, refuses and warns about.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { FrameKind, type Frame } from '../src/frame-codec.ts';
import { AcceptorHandshake, clockSkewWarning, DialerHandshake, type HandshakeStep, type LocalIdentity } from '../src/handshake.ts';

function identity(memberId: string, fields: Partial<LocalIdentity> = {}): () => LocalIdentity {
  return () => ({ clusterId: 'c1', memberId, advertise: `ws://${memberId}:1`, instance: `i-${memberId}`, secret: undefined, now: 1_000_000, maxClockSkewMs: 1000, ...fields });
}

interface Outcome {
  dialer: HandshakeStep[];
  acceptor: HandshakeStep[];
}

/** Runs a whole handshake between two identities; returns every step each side took. */
function run(d: () => LocalIdentity, a: () => LocalIdentity, opts: { to?: string; removed?: string[]; tamper?: (f: Frame) => Frame } = {}): Outcome {
  const dialer = new DialerHandshake(d, opts.to ?? a().memberId, 'ws://acceptor', 'raft');
  const acceptor = new AcceptorHandshake(a, (id) => (opts.removed ?? []).includes(id), '127.0.0.1:5');
  const out: Outcome = { dialer: [], acceptor: [] };
  const tamper = opts.tamper ?? ((f: Frame) => f);
  let toAcceptor: Frame | undefined = tamper(dialer.start());
  for (let i = 0; i < 5 && toAcceptor; i++) {
    const s = acceptor.receive(toAcceptor);
    out.acceptor.push(s);
    toAcceptor = undefined;
    if (s.kind === 'refused') break;
    const reply = 'reply' in s ? s.reply : undefined;
    if (!reply) break;
    const r = dialer.receive(tamper(reply));
    out.dialer.push(r);
    if (r.kind === 'continue') toAcceptor = tamper(r.reply);
    else if (r.kind === 'refuse') {
      out.acceptor.push(acceptor.receive(r.reply));
      break;
    }
  }
  return out;
}

const last = (steps: HandshakeStep[]): HandshakeStep => steps[steps.length - 1];

describe('handshake', () => {
  test('opens on both sides and tells each who the other is', () => {
    const out = run(identity('a'), identity('b'));
    const d = last(out.dialer);
    const a = last(out.acceptor);
    assert.equal(d.kind, 'open');
    assert.equal(a.kind, 'open');
    assert.ok(d.kind === 'open' && d.remote.memberId === 'b' && d.remote.advertise === 'ws://b:1' && d.remote.instance === 'i-b');
    assert.ok(a.kind === 'open' && a.remote.memberId === 'a' && a.remote.advertise === 'ws://a:1' && a.remote.stream === 'raft');
    assert.ok(a.kind === 'open' && a.reply?.kind === FrameKind.Welcome);
  });

  test('opens with a shared secret, both proofs checked', () => {
    const secret = Buffer.from('s');
    const out = run(identity('a', { secret }), identity('b', { secret }));
    assert.equal(last(out.dialer).kind, 'open');
    assert.equal(last(out.acceptor).kind, 'open');
  });

  test('refuses a wrong secret on the dialer side (the acceptor proves first)', () => {
    const out = run(identity('a', { secret: Buffer.from('x') }), identity('b', { secret: Buffer.from('y') }));
    const d = last(out.dialer);
    assert.ok(d.kind === 'refuse' && d.error.code === 'WS_AUTH_FAILED' && /proof of the shared secret is wrong/.test(d.error.message));
    const a = last(out.acceptor);
    assert.ok(a.kind === 'refused' && a.error.code === 'WS_AUTH_FAILED');
  });

  test('the acceptor refuses a dialer that sends no proof', () => {
    const out = run(identity('a'), identity('b', { secret: Buffer.from('y') }));
    const a = last(out.acceptor);
    assert.ok(a.kind === 'refuse' && a.error.code === 'WS_AUTH_FAILED' && /sent no proof/.test(a.error.message));
    assert.ok(a.kind === 'refuse' && a.reply.code === 'WS_AUTH_FAILED');
  });

  test('a proof replayed into a new handshake fails: each proof covers the other side’s fresh nonce', () => {
    const secret = Buffer.from('s');
    // Record a good PROOF, then offer it to a second acceptor run.
    const dialer = new DialerHandshake(identity('a', { secret }), 'b', 'u', 'raft');
    const acc1 = new AcceptorHandshake(identity('b', { secret }), () => false, 'x');
    const hello = dialer.start();
    const ch = acc1.receive(hello);
    assert.equal(ch.kind, 'continue');
    const proofStep = dialer.receive((ch as { reply: Frame }).reply);
    assert.equal(proofStep.kind, 'continue');
    const proof = (proofStep as { reply: Frame }).reply;
    const acc2 = new AcceptorHandshake(identity('b', { secret }), () => false, 'x');
    assert.equal(acc2.receive(hello).kind, 'continue');
    const replay = acc2.receive(proof);
    assert.ok(replay.kind === 'refuse' && replay.error.code === 'WS_AUTH_FAILED');
  });

  test('refuses a cluster ID mismatch in etcd words on both sides', () => {
    const out = run(identity('a', { clusterId: 'c1' }), identity('b', { clusterId: 'c2' }));
    const a = out.acceptor[0];
    assert.ok(a.kind === 'refuse' && a.error.code === 'WS_CLUSTER_ID_MISMATCH');
    assert.match((a as { error: Error }).error.message, /^request cluster ID mismatch \(got c1 want c2\) from member a \(ws:\/\/a:1\)$/);
    const d = last(out.dialer);
    assert.ok(d.kind === 'refused' && d.error.code === 'WS_CLUSTER_ID_MISMATCH');
    assert.match((d as { error: Error }).error.message, /request sent was ignored \(cluster ID mismatch: peer\[b\]=c2, local=c1\): conflicting cluster ID/);
  });

  test('skips the cluster check when either side does not know its cluster ID', () => {
    assert.equal(last(run(identity('a', { clusterId: '' }), identity('b')).acceptor).kind, 'open');
    assert.equal(last(run(identity('a'), identity('b', { clusterId: '' })).acceptor).kind, 'open');
  });

  test('refuses a dialer that meant another member, and a removed member', () => {
    const wrong = run(identity('a'), identity('b'), { to: 'x' }).acceptor[0];
    assert.ok(wrong.kind === 'refuse' && /member ID mismatch got x want b/.test(wrong.error.message));
    const removed = run(identity('a'), identity('b'), { removed: ['a'] }).acceptor[0];
    assert.ok(removed.kind === 'refuse' && /was removed from the cluster/.test(removed.error.message) && removed.error.code === 'WS_HANDSHAKE_REJECTED');
  });

  test('an acceptor that does not know its own ID takes any target', () => {
    assert.equal(last(run(identity('a'), identity(''), { to: 'j' }).acceptor).kind, 'open');
  });

  test('the dialer refuses an acceptor that turns out to be another member', () => {
    const out = run(identity('a'), identity('b'), { to: 'b' });
    assert.equal(last(out.dialer).kind, 'open');
    const d = new DialerHandshake(identity('a'), 'x', 'ws://b:1', 'raft');
    const acc = new AcceptorHandshake(identity(''), () => false, 'addr');
    const ch = acc.receive(d.start());
    // The acceptor did not know its ID, so it answers with from '' — accepted.
    assert.equal(d.receive((ch as { reply: Frame }).reply).kind, 'continue');
    const d2 = new DialerHandshake(identity('a'), 'x', 'ws://b:1', 'raft');
    const acc2 = new AcceptorHandshake(identity('b'), () => false, 'addr');
    const r = acc2.receive({ ...d2.start(), to: '' });
    const step = d2.receive((r as { reply: Frame }).reply);
    assert.ok(step.kind === 'refuse' && /dialed peer x \(ws:\/\/b:1\) but reached member b/.test(step.error.message));
  });

  test('refuses another protocol version and frames out of order with WS_BAD_FRAME', () => {
    const acc = new AcceptorHandshake(identity('b'), () => false, 'addr');
    const hello = new DialerHandshake(identity('a'), 'b', 'u', 'raft').start();
    const v2 = acc.receive({ ...hello, v: 2 });
    assert.ok(v2.kind === 'refuse' && v2.error.code === 'WS_HANDSHAKE_REJECTED' && /protocol version 2/.test(v2.error.message));
    const early = new AcceptorHandshake(identity('b'), () => false, 'addr').receive({ kind: FrameKind.Messages, messages: [] });
    assert.ok(early.kind === 'refuse' && early.error.code === 'WS_BAD_FRAME' && /expected HELLO/.test(early.error.message));
  });

  test('warns on both sides about a clock more than 1 s off', () => {
    const out = run(identity('a', { now: 1_000_000 + 1500 }), identity('b'));
    assert.deepEqual(out.acceptor[0].kind === 'continue' && out.acceptor[0].warnings, ['the clock difference against peer a is too high [1.500s > 1s]']);
    const d = out.dialer[0];
    assert.ok(d.kind === 'continue' && d.warnings.length === 1 && /against peer b is too high \[1\.500s > 1s\]/.test(d.warnings[0]));
    assert.equal(clockSkewWarning('p', 999, 1000), undefined);
    assert.equal(clockSkewWarning('p', -2000, 1000), 'the clock difference against peer p is too high [2.000s > 1s]');
  });
});
