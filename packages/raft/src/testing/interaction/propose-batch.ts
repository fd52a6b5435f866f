import { commandError, type ScriptCommand } from '../script/parser.js';
import { bytes, onlyKeys, positional } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Proposes several entries in one message (`RawNode.proposeBatch`).
 *
 * @example
 * ```
 * propose-batch 1 a b c
 * ```
 */
export function proposeBatch(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const [id, ...data] = positional(cmd);
  if (id === undefined || data.length === 0) throw commandError(cmd, 'expected a node ID and at least one datum');
  env.node(id).rawNode.proposeBatch(data.map(bytes));
}
