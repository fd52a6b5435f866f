import type { ScriptCommand } from '../script/parser.js';
import { describeEntry } from '../../describe.js';
import { oneId, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Prints a node's persisted log (its MemoryStorage), one entry a line, e.g.
 * `1/1 EntryNormal ""`.
 *
 * @remarks
 * A compacted prefix shows as `compacted through 1/5` (term/index of the last
 * compacted entry); entries the node holds but has not yet been asked to
 * persist follow, marked `(unstable)`; an empty log prints `log is empty`.
 *
 * @example
 * ```
 * raft-log 1
 * ```
 */
export function raftLog(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const { storage, rawNode } = env.node(oneId(cmd));
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  const lines: string[] = [];
  if (first > 1) lines.push(`compacted through ${storage.term(first - 1)}/${first - 1}`);
  if (last >= first) for (const e of storage.entries(first, last + 1)) lines.push(describeEntry(e));
  for (const e of rawNode.raft.log.unstableEntries()) lines.push(`${describeEntry(e)} (unstable)`);
  env.print(...(lines.length > 0 ? lines : ['log is empty']));
}
