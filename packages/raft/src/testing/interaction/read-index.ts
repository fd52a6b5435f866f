import { commandError, type ScriptCommand } from '../script/parser.js';
import { bytes, onlyKeys, positional } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Asks a node for a linearizable read identified by `ctx`. The answer shows
 * up later as a ReadState in a Ready.
 *
 * @example
 * ```
 * read-index 2 rd1
 * ```
 */
export function readIndex(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const [id, ctx, ...rest] = positional(cmd);
  if (id === undefined || ctx === undefined || rest.length > 0) throw commandError(cmd, 'expected a node ID and a request context');
  env.node(id).rawNode.readIndex(bytes(ctx));
}
