import type { ScriptCommand } from '../script/parser.js';
import { describeHardState } from '../../describe.js';
import { oneId, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Prints the HardState a node has persisted (in its MemoryStorage), not the
 * one it holds in memory: with `raft-state`, it shows what would survive a
 * crash.
 *
 * @example
 * ```
 * hard-state 2
 * ```
 */
export function hardState(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const { storage } = env.node(oneId(cmd));
  env.print(`HardState ${describeHardState(storage.initialState().hardState)}`);
}
