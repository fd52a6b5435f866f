import { argValue, type ScriptCommand } from '../script/parser.js';
import { onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Asks node `from` (normally the leader) to hand leadership to `to`.
 *
 * @example
 * ```
 * transfer-leadership from=1 to=2
 * ```
 */
export function transferLeadership(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, ['from', 'to']);
  const to = argValue(cmd, 'to');
  env.node(to);
  env.node(argValue(cmd, 'from')).rawNode.transferLeader(to);
}
