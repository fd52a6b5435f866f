import { commandError, type ScriptCommand } from '../script/parser.js';
import { onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Cuts the network into sides; messages between sides are dropped, both
 * when sent (`process-ready`) and when delivered. Every node must be on
 * exactly one side. Replaces any earlier partition.
 *
 * @example
 * ```
 * partition (1) (2,3)
 * ```
 */
export function partition(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const sides = cmd.args.filter((a) => a.key.startsWith('(')).map((a) => a.values);
  if (sides.length < 2 || sides.length !== cmd.args.length) throw commandError(cmd, 'expected two or more sides like (1) (2,3)');
  env.partition(sides);
}
