import { MessageType, type Index, type Message, type NodeId } from '../types.js';

/**
 * Round-trip latency to one follower, in milliseconds, as etcd's
 * `/v2/stats/leader` reports it.
 *
 * @remarks
 * Every field is 0 until the first answer. The deviation is the population
 * standard deviation of every sample since this member became leader
 * (√(mean of squares − square of mean), as etcd computes it).
 */
export interface FollowerLatency {
  /** The latest sample. */
  readonly current: number;
  /** Mean of every sample. */
  readonly average: number;
  readonly standardDeviation: number;
  readonly minimum: number;
  readonly maximum: number;
}

/**
 * What happened to the heartbeats and appends the leader sent one follower.
 *
 * @remarks
 * etcd 2.3 counts only appends (a success per append written to the peer,
 * a failure per append it could not write); here a success is a heartbeat
 * or append answered by the follower (each gives a latency sample), and a
 * failure is a report from the transport that the follower is unreachable,
 * or a send left unanswered for an election timeout.
 */
export interface FollowerCounts {
  readonly fail: number;
  readonly success: number;
}

/** One follower's entry in {@link LeaderStats}, etcd's `FollowerStats` shape. */
export interface FollowerStats {
  readonly latency: FollowerLatency;
  readonly counts: FollowerCounts;
}

/**
 * The leader's view of its followers (etcd's `/v2/stats/leader` body),
 * returned by `RaftNode.leaderStats()`.
 *
 * @remarks
 * Counted since this member last became leader: a new term starts from
 * zero. Every current member but the leader is listed, learners included.
 */
export interface LeaderStats {
  /** The leader's ID (this member). */
  readonly leader: NodeId;
  /** By follower ID. */
  readonly followers: Readonly<Record<NodeId, FollowerStats>>;
}

/**
 * Heartbeats carry a tag so their answers can be told apart: the follower
 * echoes a heartbeat's context in its MsgHeartbeatResp, so the leader
 * appends `seq (u32) ‖ TAG_MAGIC` to the context it sends and cuts it off
 * the answer before the core sees it. The core (and a follower of any
 * version) never looks at it. An original context (a ReadIndex request ID)
 * stays in front, untouched.
 */
const TAG_MAGIC = Uint8Array.of(0xee, 0x6b, 0x76, 0x68, 0x62, 0x72, 0x74, 0x74); // 0xEE "kvhbrtt"
const TAG_BYTES = 4 + TAG_MAGIC.length;

/** Sends to one follower waiting for an answer, and its running figures. */
class Follower {
  /** Heartbeats by tag sequence number → send time. */
  readonly heartbeats = new Map<number, number>();
  /**
   * Appends in send order: the index range they carry and when they left.
   * Invariant: the waiting ones are `appends[appendsHead..]`.
   */
  appends: { prev: Index; last: Index; sentAt: number }[] = [];
  appendsHead = 0;
  success = 0;
  fail = 0;
  current = 0;
  average = 0;
  averageSquare = 0;
  minimum = 0;
  maximum = 0;

  /** Settles the appends before position `i` (they no longer wait), compacting now and then. */
  dropAppendsBefore(i: number): void {
    this.appendsHead = i;
    if (this.appendsHead === this.appends.length) {
      this.appends = [];
      this.appendsHead = 0;
    } else if (this.appendsHead > 64 && this.appendsHead * 2 > this.appends.length) {
      this.appends = this.appends.slice(this.appendsHead);
      this.appendsHead = 0;
    }
  }

  sample(ms: number): void {
    const n = this.success;
    this.success++;
    this.current = ms;
    this.minimum = n === 0 ? ms : Math.min(this.minimum, ms);
    this.maximum = n === 0 ? ms : Math.max(this.maximum, ms);
    this.average = (this.average * n + ms) / this.success;
    this.averageSquare = (this.averageSquare * n + ms * ms) / this.success;
  }

  view(): FollowerStats {
    // Rounding can make the variance a hair below zero when every sample is equal.
    const variance = Math.max(0, this.averageSquare - this.average * this.average);
    return {
      latency: {
        current: this.current,
        average: this.average,
        standardDeviation: Math.sqrt(variance),
        minimum: this.minimum,
        maximum: this.maximum,
      },
      counts: { fail: this.fail, success: this.success },
    };
  }
}

/** Unanswered sends kept per follower; older ones are forgotten (not counted). */
const MAX_PENDING = 4096;

/**
 * Measures, while this member leads, the round trip of every heartbeat and
 * append to each follower: the send time is taken when the driver hands the
 * message to the transport, and the sample when the matching answer
 * arrives. Used by {@link RaftNode}; times come from its clock.
 *
 * @remarks
 * Matching: a heartbeat by the tag it carries (see {@link FollowerStatsTracker.tagHeartbeat}),
 * exactly; an append by its index range — an accepting MsgAppResp names
 * the last index it stored, a rejecting one the index it rejected — to the
 * earliest waiting send of that range. Sends before the matched one are
 * settled without a sample (their answers were lost or came back
 * unmatched). If the answer to one of two appends of the same range (an
 * empty append that only carries the commit index repeats the range) is
 * lost, the other's answer is timed from the first: the error is bounded
 * by the time between them and lasts until the range moves on.
 *
 * Memory: at most `MAX_PENDING` sends per follower wait for an answer, and
 * every one is dropped after `timeoutMs` (counted as a failure).
 *
 * @internal
 */
export class FollowerStatsTracker {
  private readonly followers = new Map<NodeId, Follower>();
  private seq = 0;

  constructor(
    /** Time after which an unanswered send counts as failed, in ms. */
    private readonly timeoutMs: number,
  ) {}

  /** Forgets everything: a new term of leadership, or none. */
  reset(): void {
    this.followers.clear();
  }

  private follower(id: NodeId): Follower {
    let f = this.followers.get(id);
    if (!f) this.followers.set(id, (f = new Follower()));
    return f;
  }

  /**
   * Records a heartbeat to `m.to` sent at `now`, and returns the message to
   * send instead: a copy whose context carries the tag (`m` is not changed).
   */
  tagHeartbeat(m: Message, now: number): Message {
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const f = this.follower(m.to);
    f.heartbeats.set(seq, now);
    if (f.heartbeats.size > MAX_PENDING) f.heartbeats.delete(f.heartbeats.keys().next().value as number);
    const ctx = m.context ?? new Uint8Array(0);
    const out = new Uint8Array(ctx.byteLength + TAG_BYTES);
    out.set(ctx, 0);
    new DataView(out.buffer).setUint32(ctx.byteLength, seq);
    out.set(TAG_MAGIC, ctx.byteLength + 4);
    return { ...m, context: out };
  }

  /** Records an append to `m.to` sent at `now`. */
  sentAppend(m: Message, now: number): void {
    const f = this.follower(m.to);
    f.appends.push({ prev: m.index, last: m.index + m.entries.length, sentAt: now });
    if (f.appends.length - f.appendsHead > MAX_PENDING) f.dropAppendsBefore(f.appendsHead + 1);
  }

  /**
   * Takes the answer `m` (a MsgHeartbeatResp or MsgAppResp) arriving at
   * `now`: records a sample if it matches a send, and returns the message
   * for the core — for a tagged heartbeat answer, a copy with the tag cut
   * off (with `measure: false`, only that).
   */
  received(m: Message, now: number, measure: boolean): Message {
    if (m.type === MessageType.MsgHeartbeatResp) {
      const { seq, message } = untag(m);
      if (measure && seq !== undefined) {
        const f = this.followers.get(m.from);
        const sentAt = f?.heartbeats.get(seq);
        if (f && sentAt !== undefined) {
          f.heartbeats.delete(seq);
          f.sample(now - sentAt);
        }
      }
      return message;
    }
    if (measure && m.type === MessageType.MsgAppResp) {
      const f = this.followers.get(m.from);
      if (!f) return m;
      // The earliest send this can answer. Answers come back in send order
      // on an ordered link, so sends before it were lost (or answered
      // already without a match): settle them without a sample or a
      // failure. Later sends with the same range keep waiting for theirs.
      for (let i = f.appendsHead; i < f.appends.length; i++) {
        const a = f.appends[i];
        if (m.reject ? a.prev !== m.index : a.last !== m.index) continue;
        f.sample(now - a.sentAt);
        f.dropAppendsBefore(i + 1);
        break;
      }
    }
    return m;
  }

  /** The transport could not reach `id`: one failure, and its sends in flight are given up. */
  unreachable(id: NodeId): void {
    const f = this.follower(id);
    f.fail++;
    f.heartbeats.clear();
    f.dropAppendsBefore(f.appends.length);
  }

  /** Counts sends unanswered for longer than the timeout as failures, and forgets them. */
  expire(now: number): void {
    const cutoff = now - this.timeoutMs;
    for (const f of this.followers.values()) {
      for (const [seq, sentAt] of f.heartbeats) {
        if (sentAt > cutoff) break; // insertion order is send order
        f.heartbeats.delete(seq);
        f.fail++;
      }
      let i = f.appendsHead;
      while (i < f.appends.length && f.appends[i].sentAt <= cutoff) i++;
      if (i > f.appendsHead) {
        f.fail += i - f.appendsHead;
        f.dropAppendsBefore(i);
      }
    }
  }

  /** The figures for `leader`'s followers `ids` (zeros for one not heard from yet); fresh objects. */
  view(leader: NodeId, ids: readonly NodeId[]): LeaderStats {
    const followers: Record<NodeId, FollowerStats> = {};
    for (const id of ids) {
      if (id === leader) continue;
      followers[id] = (this.followers.get(id) ?? new Follower()).view();
    }
    return { leader, followers };
  }
}

/** Splits a heartbeat answer into the tag (if it carries one) and the message the core expects. */
function untag(m: Message): { seq: number | undefined; message: Message } {
  const ctx = m.context;
  if (ctx === undefined || ctx.byteLength < TAG_BYTES) return { seq: undefined, message: m };
  const at = ctx.byteLength - TAG_MAGIC.length;
  for (let i = 0; i < TAG_MAGIC.length; i++) if (ctx[at + i] !== TAG_MAGIC[i]) return { seq: undefined, message: m };
  const seq = new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength).getUint32(ctx.byteLength - TAG_BYTES);
  const rest = ctx.subarray(0, ctx.byteLength - TAG_BYTES);
  const message: Message = { ...m };
  if (rest.byteLength > 0) message.context = rest;
  else delete message.context;
  return { seq, message };
}
