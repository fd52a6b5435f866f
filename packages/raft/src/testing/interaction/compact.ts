import { commandError, type ScriptCommand } from '../script/parser.js';
import { onlyKeys, positional } from './args.js';
import { confStateAt, type InteractionEnv } from './env.js';
import { raftLog } from './raft-log.js';

/**
 * Takes a snapshot of a node's applied state at `index` and compacts its
 * storage through it, then prints the log as `raft-log` does. Entries up to
 * `index` are then available to the leader only as that snapshot, so a
 * follower that needs them is sent a MsgSnap.
 *
 * @remarks
 * `index` must not exceed the node's applied index: a snapshot holds only
 * applied state. The snapshot's data is the text `snapshot@<index>`; its
 * membership is the one the node's state machine had in force at `index`
 * (the last conf change applied at or before it), not the current one, which
 * may already include later changes.
 *
 * @example
 * ```
 * compact 1 5
 * ```
 */
export function compact(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const [id, at, ...rest] = positional(cmd);
  if (id === undefined || at === undefined || rest.length > 0 || !/^\d+$/.test(at)) {
    throw commandError(cmd, 'expected a node ID and an index');
  }
  const index = Number(at);
  const node = env.node(id);
  const { rawNode, storage } = node;
  const applied = rawNode.raft.log.applied;
  if (index > applied) throw commandError(cmd, `index ${index} is past node ${id}'s applied index ${applied}`);
  if (index > storage.snapshot().metadata.index) {
    storage.createSnapshot(index, confStateAt(node, index), new TextEncoder().encode(`snapshot@${index}`));
  }
  storage.compact(index);
  raftLog(env, { ...cmd, args: [{ key: id, values: [] }] });
}
