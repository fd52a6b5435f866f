// Peers that misbehave on purpose, built from the transport's own handshake
// and codec so they get past the handshake and then do what a real peer
// never would: stop reading, send garbage, lie about who they are.
import { MessageType, type Message } from '@kv/raft';
import { WebSocket, WebSocketServer } from 'ws';

import { decodeFrame, encodeControlFrame, encodeMessageFrames, FrameKind, type Frame } from '../src/frame-codec.ts';
import { AcceptorHandshake, DialerHandshake, type HandshakeStep, type LocalIdentity } from '../src/handshake.ts';

const BIG = 1 << 30;

/** An identity for a fake peer. */
export function identity(memberId: string, fields: Partial<LocalIdentity> = {}): () => LocalIdentity {
  return () => ({
    clusterId: 'c1',
    memberId,
    advertise: '',
    instance: `fake-${memberId}`,
    secret: undefined,
    now: Date.now(),
    maxClockSkewMs: 1000,
    ...fields,
  });
}

function sendStep(ws: WebSocket, step: HandshakeStep): void {
  if ((step.kind === 'continue' || step.kind === 'open' || step.kind === 'refuse') && step.reply) {
    ws.send(encodeControlFrame(step.reply as Exclude<Frame, { kind: FrameKind.Messages }>));
  }
}

/** A WebSocket server on 127.0.0.1 that completes the handshake as `memberId`, then hands the socket to `onOpen`. */
export async function fakeAcceptor(
  memberId: string,
  onOpen: (ws: WebSocket) => void,
): Promise<{ url: string; received: Message[]; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const received: Message[] = [];
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    const hs = new AcceptorHandshake(identity(memberId), () => false, 'test');
    let open = false;
    ws.on('message', (data) => {
      const frame = decodeFrame(data as Buffer, BIG);
      if (open) {
        if (frame.kind === FrameKind.Messages) received.push(...frame.messages);
        return;
      }
      const step = hs.receive(frame);
      sendStep(ws, step);
      if (step.kind === 'open') {
        open = true;
        onOpen(ws);
      }
    });
  });
  const addr = wss.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    url: `ws://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

/** A raw WebSocket client to a transport's peer port, with helpers to wait for its fate. */
export interface RawClient {
  readonly ws: WebSocket;
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Resolves with 'pong' if the server answers a ping before closing, else with the close code. */
  pingOrClose(): Promise<'pong' | number>;
}

/**
 * Connects to `url` (`ws://host:port`), optionally completing the
 * handshake as `handshakeAs` (to member `to`), and resolves when ready.
 */
export async function rawClient(url: string, opts: { handshakeAs?: string; to?: string; maxPayload?: number } = {}): Promise<RawClient> {
  const ws = new WebSocket(`${url}/raft`, { perMessageDeflate: false, maxPayload: opts.maxPayload ?? BIG });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  if (opts.handshakeAs !== undefined) {
    const hs = new DialerHandshake(identity(opts.handshakeAs), opts.to ?? '', url, 'raft');
    await new Promise<void>((resolve, reject) => {
      const onMessage = (data: Buffer): void => {
        const step = hs.receive(decodeFrame(data, BIG));
        sendStep(ws, step);
        if (step.kind === 'open') {
          ws.off('message', onMessage);
          resolve();
        } else if (step.kind !== 'continue') {
          reject(step.error);
        }
      };
      ws.on('message', onMessage);
      ws.send(encodeControlFrame(hs.start()));
      void closed.then((c) => reject(new Error(`closed during the handshake: ${c.code} ${c.reason}`)));
    });
  }
  return {
    ws,
    closed,
    pingOrClose: () =>
      new Promise((resolve) => {
        ws.once('pong', () => resolve('pong'));
        void closed.then((c) => resolve(c.code));
        try {
          ws.ping();
        } catch {
          // already closing: the close resolves
        }
      }),
  };
}

/** Encodes one MESSAGES frame. */
export function messagesFrame(messages: Message[]): Buffer {
  return encodeMessageFrames(messages, BIG).frames[0].data;
}

export { MessageType };
