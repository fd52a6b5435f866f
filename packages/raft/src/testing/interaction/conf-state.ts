import type { ScriptCommand } from '../script/parser.js';
import { onlyKeys, positional } from './args.js';
import { describeConfState, type InteractionEnv } from './env.js';

/**
 * Prints the membership each listed node (default: all) has in force now,
 * one line per node, e.g. `4: voters=(1 2 3) learners=(4)`. A node that has
 * not yet learned any membership (one added with `voters=()`) shows
 * `voters=() learners=()`.
 *
 * @example
 * ```
 * conf-state
 * conf-state 4
 * ```
 */
export function confState(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const named = positional(cmd);
  for (const id of named.length > 0 ? named : env.ids()) {
    env.print(`${id}: ${describeConfState(env.node(id).rawNode.confState())}`);
  }
}
