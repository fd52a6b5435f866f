import { commandError, type ScriptCommand } from '../script/parser.js';
import { bytes, onlyKeys, positional } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Proposes one entry on a node. A refusal prints the core's log line and
 * `error: RAFT_NO_LEADER: …`.
 *
 * @example
 * ```
 * propose 1 foo
 * ```
 */
export function propose(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const [id, data, ...rest] = positional(cmd);
  if (id === undefined || data === undefined || rest.length > 0) throw commandError(cmd, 'expected a node ID and one datum');
  env.node(id).rawNode.propose(bytes(data));
}
