import { argInt, argValue, argValues, commandError, type ScriptCommand } from '../script/parser.js';
import { NONE } from '../../types.js';
import { oneId, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Records the log a node not yet added will start with: one empty
 * EntryNormal per term in `terms`, at indexes 1, 2, … (or right after
 * `add-nodes … index=N`), and the hard state `term` (default: the last
 * entry's term), `vote` (default: none) and `commit` (default: 0).
 *
 * @remarks
 * This is how scripts build the divergent logs of the Raft paper's figures 7
 * and 8: the entries are written into the node's MemoryStorage before its
 * RawNode is created, as if it had persisted them in earlier terms.
 *
 * @example
 * ```
 * set-log 3 terms=(1,1,2,3) term=3 vote=3 commit=2
 * ```
 */
export function setLog(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, ['terms', 'term', 'vote', 'commit']);
  const id = oneId(cmd);
  if (env.nodes.has(id)) throw commandError(cmd, `node ${id} already exists; set-log must come before add-nodes`);
  const terms = argValues(cmd, 'terms').map((t) => {
    if (!/^\d+$/.test(t) || Number(t) < 1) throw commandError(cmd, `term ${JSON.stringify(t)} is not a positive integer`);
    return Number(t);
  });
  for (let i = 1; i < terms.length; i++) {
    if (terms[i] < terms[i - 1]) throw commandError(cmd, `terms must not decrease (${terms[i - 1]} then ${terms[i]})`);
  }
  const last = terms.length > 0 ? terms[terms.length - 1] : 0;
  const term = argInt(cmd, 'term', last);
  if (term < last) throw commandError(cmd, `term=${term} is below the last entry's term ${last}`);
  env.presetLogs.set(id, { terms, term, vote: argValue(cmd, 'vote', NONE), commit: argInt(cmd, 'commit', 0) });
}
