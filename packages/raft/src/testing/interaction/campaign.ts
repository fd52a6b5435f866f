import type { ScriptCommand } from '../script/parser.js';
import { oneId, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Makes a node start an election now (a pre-election first when pre-vote
 * is on), as if its election timeout had passed.
 *
 * @example
 * ```
 * campaign 1
 * ```
 */
export function campaign(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  env.node(oneId(cmd)).rawNode.campaign();
}
