import type { Message, NodeId, Transport, TransportHandler } from '@kv/raft';

/**
 * Wraps a transport for a member joining an existing cluster, which does not
 * know its own ID yet: etcd gives an added member an ID that includes the
 * time of the addition. The leader's first message to it is addressed to
 * that ID — `whoAmI()` resolves with it — and messages are held until the
 * Raft node, created with that ID, takes over the handler.
 */
export class JoiningTransport implements Transport {
  private handler: TransportHandler | undefined;
  private held: Message[] = [];
  private started = false;
  private learned: ((id: NodeId) => void) | undefined;
  private readonly idPromise: Promise<NodeId>;

  constructor(private readonly inner: Transport) {
    this.idPromise = new Promise((resolve) => (this.learned = resolve));
  }

  get clock(): Transport['clock'] {
    return this.inner.clock;
  }

  private async listen(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.inner.start({
      onMessage: (m) => {
        if (this.handler) return this.handler.onMessage(m);
        if (this.held.length < 1024) this.held.push(m);
        this.learned?.(m.to);
      },
      onUnreachable: (id) => this.handler?.onUnreachable?.(id),
    });
  }

  /** Starts listening and resolves with the ID the cluster addresses this member by. */
  async whoAmI(): Promise<NodeId> {
    await this.listen();
    return this.idPromise;
  }

  async start(handler: TransportHandler): Promise<void> {
    await this.listen();
    this.handler = handler;
    const held = this.held;
    this.held = [];
    for (const m of held) handler.onMessage(m);
  }

  setIdentity(identity: { readonly memberId?: NodeId; readonly clusterId?: string }): void {
    this.inner.setIdentity?.(identity);
  }

  send(messages: readonly Message[]): void {
    this.inner.send(messages);
  }

  addPeer(id: NodeId, url: string): void {
    this.inner.addPeer(id, url);
  }

  removePeer(id: NodeId): void {
    this.inner.removePeer(id);
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }
}
