/**
 * Where the core's log lines go. Lines are terse and deterministic
 * (`2 became candidate at term 3`) because test transcripts include them.
 */
export interface RaftLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** A logger that discards everything: the core's default. */
export const silentLogger: RaftLogger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});
