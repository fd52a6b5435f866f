import { commandError, type ScriptCommand } from '../script/parser.js';
import { addNodes } from './add-nodes.js';
import { breakpoint } from './breakpoint.js';
import { campaign } from './campaign.js';
import { compact } from './compact.js';
import { confState } from './conf-state.js';
import { deliverMsgs } from './deliver-msgs.js';
import { describeError, type InteractionEnv } from './env.js';
import { hardState } from './hard-state.js';
import { heal } from './heal.js';
import { isolate } from './isolate.js';
import { logLevel } from './log-level.js';
import { partition } from './partition.js';
import { processReady } from './process-ready.js';
import { proposeBatch } from './propose-batch.js';
import { proposeConfChange } from './propose-conf-change.js';
import { propose } from './propose.js';
import { raftLog } from './raft-log.js';
import { raftState } from './raft-state.js';
import { readIndex } from './read-index.js';
import { reportSnapshot } from './report-snapshot.js';
import { setLog } from './set-log.js';
import { stabilize } from './stabilize.js';
import { status } from './status.js';
import { tickElection } from './tick-election.js';
import { tickHeartbeat } from './tick-heartbeat.js';
import { tick } from './tick.js';
import { transferLeadership } from './transfer-leadership.js';

/** One script command: reads its arguments, acts on the environment, prints through `env.print`. */
export type CommandHandler = (env: InteractionEnv, cmd: ScriptCommand) => void;

/** Every command an interaction script may use, by name. Each handler's TSDoc has an example line. */
export const HANDLERS: Readonly<Record<string, CommandHandler>> = Object.freeze({
  'add-nodes': addNodes,
  'set-log': setLog,
  campaign,
  propose,
  'propose-batch': proposeBatch,
  'propose-conf-change': proposeConfChange,
  'read-index': readIndex,
  tick,
  'tick-election': tickElection,
  'tick-heartbeat': tickHeartbeat,
  'process-ready': processReady,
  'deliver-msgs': deliverMsgs,
  stabilize,
  partition,
  heal,
  isolate,
  'raft-log': raftLog,
  'hard-state': hardState,
  'conf-state': confState,
  'raft-state': raftState,
  status,
  compact,
  'report-snapshot': reportSnapshot,
  'transfer-leadership': transferLeadership,
  'log-level': logLevel,
  _breakpoint: breakpoint,
});

/**
 * Runs one command against `env` and returns its output: what the handler
 * printed and what the nodes logged meanwhile. A thrown error ends the
 * command and prints `error: …` after the lines already printed, so a
 * refusal shows next to the core's log line that explains it.
 *
 * @throws Error for an unknown command name (the runner prints it too).
 */
export function runCommand(env: InteractionEnv, cmd: ScriptCommand): string {
  const handler = Object.hasOwn(HANDLERS, cmd.name) ? HANDLERS[cmd.name] : undefined;
  if (!handler) throw commandError(cmd, `unknown command (known: ${Object.keys(HANDLERS).join(', ')})`);
  const lines = env.capture(() => {
    try {
      handler(env, cmd);
    } catch (e) {
      env.print(`error: ${describeError(e, cmd)}`);
    }
  });
  return lines.join('\n');
}
