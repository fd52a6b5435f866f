import { commandError, type ScriptCommand } from '../script/parser.js';
import { onlyKeys, positional } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Ends every partition. Messages dropped meanwhile stay lost.
 *
 * @example
 * ```
 * heal
 * ```
 */
export function heal(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  if (positional(cmd).length > 0) throw commandError(cmd, 'takes no arguments');
  env.heal();
}
