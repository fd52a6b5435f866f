import { argValues, type ScriptCommand } from '../script/parser.js';
import { describeMessage } from '../../describe.js';
import type { Message, MessageType, NodeId } from '../../types.js';
import { messageType, onlyKeys, positional } from './args.js';
import { describeError, type InteractionEnv, type InteractionNode } from './env.js';

/** Which queued messages a delivery takes. */
export interface MessageFilter {
  /** Only these types (all when undefined). */
  readonly types?: ReadonlySet<MessageType>;
  /** Only from these senders (all when undefined). */
  readonly from?: ReadonlySet<NodeId>;
}

/**
 * Steps queued messages into their recipients, printing each one
 * (`describeMessage`) followed by whatever the recipient logged; an error
 * thrown by `step` is printed as `error: CODE: message` and delivery goes on.
 *
 * @remarks
 * Positional IDs name the recipients (default: every node, in ID order).
 * `drop=(ids)` discards, and prints as `dropped: …`, the matching messages
 * queued for those nodes instead; given alone, it delivers nothing else.
 * `type=MsgApp` or `type=(MsgApp,MsgHeartbeat)` and `from=(ids)` narrow both
 * to the matching messages; the others stay queued, in order. A message
 * whose sender and recipient are now on different sides of a partition is
 * dropped and printed as `dropped (partition): …`.
 *
 * @example
 * ```
 * deliver-msgs 2 3 type=MsgApp
 * deliver-msgs drop=(3)
 * ```
 */
export function deliverMsgs(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, ['drop', 'type', 'from']);
  const filter: MessageFilter = {
    ...(cmd.args.some((a) => a.key === 'type') ? { types: new Set(argValues(cmd, 'type').map((t) => messageType(cmd, t))) } : {}),
    ...(cmd.args.some((a) => a.key === 'from') ? { from: new Set(argValues(cmd, 'from')) } : {}),
  };
  const drop = new Set(argValues(cmd, 'drop', []));
  const named = positional(cmd);
  const deliverTo = new Set(named.length > 0 ? named : drop.size > 0 ? [] : env.ids());
  for (const id of [...drop, ...deliverTo]) env.node(id);
  for (const id of env.ids()) {
    const node = env.node(id);
    if (drop.has(id)) {
      for (const m of take(node, filter)) env.print(`dropped: ${describeMessage(m)}`);
    } else if (deliverTo.has(id)) {
      deliver(env, node, filter);
    }
  }
}

/**
 * Delivers the matching messages queued for one node, in order; returns how
 * many it took. Shared with `stabilize`.
 */
export function deliver(env: InteractionEnv, node: InteractionNode, filter: MessageFilter = {}): number {
  const msgs = take(node, filter);
  for (const m of msgs) {
    if (!env.connected(m.from, m.to)) {
      env.print(`dropped (partition): ${describeMessage(m)}`);
      continue;
    }
    env.print(describeMessage(m));
    try {
      node.rawNode.step(m);
    } catch (e) {
      env.print(`error: ${describeError(e)}`);
    }
  }
  return msgs.length;
}

/** Removes and returns the node's queued messages that match. */
function take(node: InteractionNode, filter: MessageFilter): Message[] {
  const taken: Message[] = [];
  const kept: Message[] = [];
  for (const m of node.inbox) {
    const match = (!filter.types || filter.types.has(m.type)) && (!filter.from || filter.from.has(m.from));
    (match ? taken : kept).push(m);
  }
  node.inbox = kept;
  return taken;
}
