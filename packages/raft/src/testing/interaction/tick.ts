import { argInt, commandError, type ScriptCommand } from '../script/parser.js';
import { onlyKeys, positional } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Ticks nodes in lockstep, `n` times (default 1): tick k ticks every listed
 * node once, in ID order, before tick k+1.
 *
 * @remarks
 * With `n` above 1, the output of each tick that printed something is shown
 * under a `tick k` header, so a transcript says exactly when each node's
 * randomized election timeout ran out.
 *
 * @example
 * ```
 * tick 1 2 3 n=20
 * ```
 */
export function tick(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, ['n']);
  const ids = positional(cmd);
  if (ids.length === 0) throw commandError(cmd, 'expected at least one node ID');
  const nodes = ids.map((id) => env.node(id));
  const n = argInt(cmd, 'n', 1);
  if (n < 1) throw commandError(cmd, `n=${n} must be at least 1`);
  for (let k = 1; k <= n; k++) {
    const lines = env.capture(() => {
      for (const node of nodes) node.rawNode.tick();
    });
    if (lines.length === 0) continue;
    if (n === 1) env.print(...lines);
    else env.print(`tick ${k}`, ...lines.map((l) => `  ${l}`));
  }
}
