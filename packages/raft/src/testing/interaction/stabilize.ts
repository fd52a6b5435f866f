import { commandError, type ScriptCommand } from '../script/parser.js';
import { onlyKeys, positional } from './args.js';
import { deliver } from './deliver-msgs.js';
import type { InteractionEnv } from './env.js';
import { handleReady } from './process-ready.js';

/** Rounds after which `stabilize` gives up: a cluster that never settles is a bug worth a loud error. */
const MAX_ROUNDS = 1000;

/**
 * Runs the listed nodes (default: all) until nothing is left to do: each
 * round handles every node's Ready, then delivers every node's queued
 * messages, in ID order, and stops after a round that did nothing.
 *
 * @remarks
 * Output comes in indented sections, `> 1 handling Ready` (as
 * `process-ready`) and `> 2 receiving messages` (as `deliver-msgs`).
 * Messages for nodes not listed stay queued.
 *
 * @example
 * ```
 * stabilize
 * stabilize 1 2
 * ```
 */
export function stabilize(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const named = positional(cmd);
  const nodes = (named.length > 0 ? named : env.ids()).map((id) => env.node(id));
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let busy = false;
    for (const node of nodes) {
      let handled = false;
      const lines = env.capture(() => (handled = handleReady(env, node)));
      if (!handled && lines.length === 0) continue;
      busy = true;
      env.print(`> ${node.id} handling Ready`, ...lines.map((l) => `  ${l}`));
    }
    for (const node of nodes) {
      if (node.inbox.length === 0) continue;
      busy = true;
      const lines = env.capture(() => deliver(env, node));
      env.print(`> ${node.id} receiving messages`, ...lines.map((l) => `  ${l}`));
    }
    if (!busy) return;
  }
  throw commandError(cmd, `still busy after ${MAX_ROUNDS} rounds`);
}
