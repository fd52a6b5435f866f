import { RaftError } from '../errors.js';
import { ConfChangeType, type ConfChange, type ConfState, type NodeId } from '../types.js';

/** A member as the driver knows it: where it listens, and what the host attached. */
export interface MemberInfo {
  readonly id: NodeId;
  /** Where its peer transport listens (`ws://host:2380`, `mem://m2`). */
  readonly peerUrls: readonly string[];
  readonly isLearner: boolean;
  /** JSON-serializable data the host attached when adding it (e.g. name, client URLs). */
  readonly meta?: unknown;
}

/** What a conf change's context carries (after the proposal envelope). */
export interface MemberContext {
  readonly peerUrls: readonly string[];
  readonly meta?: unknown;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeMemberContext(ctx: MemberContext): Uint8Array {
  return encoder.encode(JSON.stringify({ peerUrls: ctx.peerUrls, ...(ctx.meta !== undefined ? { meta: ctx.meta } : {}) }));
}

/** Decodes a member context; an empty or foreign context gives no URLs. */
export function decodeMemberContext(bytes: Uint8Array): MemberContext {
  if (bytes.byteLength === 0) return { peerUrls: [] };
  try {
    const v = JSON.parse(decoder.decode(bytes)) as { peerUrls?: unknown; meta?: unknown };
    const peerUrls = Array.isArray(v.peerUrls) ? v.peerUrls.filter((u): u is string => typeof u === 'string') : [];
    return v.meta !== undefined ? { peerUrls, meta: v.meta } : { peerUrls };
  } catch (e) {
    throw new RaftError('RAFT_CONF_CHANGE_INVALID', 'member context is not valid JSON', { cause: e });
  }
}

/** The registry's state as stored in snapshots. */
export interface MembersSnapshot {
  readonly members: readonly MemberInfo[];
  readonly removed: readonly NodeId[];
  /** Last known addresses of removed members. */
  readonly removedUrls?: Readonly<Record<NodeId, readonly string[]>>;
}

/**
 * Every member's address and metadata, and every ID ever removed (IDs are
 * never reused). Changed only by applying committed conf changes, so it is
 * the same on every member at the same applied index.
 */
export class MemberRegistry {
  private readonly members = new Map<NodeId, MemberInfo>();
  /** Removed IDs and where they were (to answer their messages). */
  private readonly removed = new Map<NodeId, readonly string[]>();

  get(id: NodeId): MemberInfo | undefined {
    return this.members.get(id);
  }

  list(): MemberInfo[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  isRemoved(id: NodeId): boolean {
    return this.removed.has(id);
  }

  /**
   * Why `cc` may not be proposed or applied, if it may not: an ID once
   * removed never comes back.
   */
  refusal(cc: ConfChange): string | undefined {
    if (cc.type !== ConfChangeType.RemoveNode && cc.type !== ConfChangeType.UpdateNode && this.removed.has(cc.nodeId)) {
      return `member ${cc.nodeId} was removed from the cluster; IDs are never reused`;
    }
    return undefined;
  }

  /** Records a change the core accepted; `confState` is the configuration after it. */
  apply(cc: ConfChange, ctx: MemberContext, confState: ConfState): void {
    const learners = new Set(confState.learners);
    if (cc.type === ConfChangeType.RemoveNode) {
      if (!confState.voters.includes(cc.nodeId) && !learners.has(cc.nodeId)) {
        this.removed.set(cc.nodeId, this.members.get(cc.nodeId)?.peerUrls ?? []);
        this.members.delete(cc.nodeId);
      }
    } else {
      const prev = this.members.get(cc.nodeId);
      const peerUrls = ctx.peerUrls.length > 0 ? ctx.peerUrls : (prev?.peerUrls ?? []);
      const meta = ctx.meta !== undefined ? ctx.meta : prev?.meta;
      this.members.set(cc.nodeId, {
        id: cc.nodeId,
        peerUrls: [...peerUrls],
        isLearner: learners.has(cc.nodeId),
        ...(meta !== undefined ? { meta } : {}),
      });
    }
    // Keep learner flags in step with the configuration.
    for (const [id, m] of this.members) {
      const isLearner = learners.has(id);
      if (m.isLearner !== isLearner) this.members.set(id, { ...m, isLearner });
    }
  }

  /** Removed members and their last addresses. */
  removedMembers(): { id: NodeId; peerUrls: readonly string[] }[] {
    return [...this.removed].map(([id, peerUrls]) => ({ id, peerUrls }));
  }

  toSnapshot(): MembersSnapshot {
    const removed = [...this.removed.keys()].sort();
    return { members: this.list(), removed, removedUrls: Object.fromEntries(this.removed) };
  }

  restore(s: MembersSnapshot): void {
    this.members.clear();
    this.removed.clear();
    for (const m of s.members) this.members.set(m.id, m);
    for (const id of s.removed) this.removed.set(id, s.removedUrls?.[id] ?? []);
  }
}
