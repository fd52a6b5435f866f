import type { ScriptCommand } from '../script/parser.js';
import { oneId, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Cuts one node off from all others: `isolate 1` is `partition (1) (2,3)`
 * in a three-node cluster.
 *
 * @example
 * ```
 * isolate 1
 * ```
 */
export function isolate(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const id = oneId(cmd);
  env.node(id);
  env.partition([[id], env.ids().filter((x) => x !== id)]);
}
