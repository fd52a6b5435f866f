/** `kvctl exec-watch [--recursive] [--after-index n] <key> [--] <command> [args...]`. @packageDocumentation */
import { spawn, type StdioOptions } from 'node:child_process';
import type { KeysResponse } from '../client.js';
import { KVCTL_EXIT, KvctlExit, intFlag, type KvctlContext, type ParsedArgs } from '../io.js';
import { watchChanges } from './watch.js';

/**
 * Splits `exec-watch`'s arguments: options, then the key, then (after an
 * optional `--`) the command and its arguments, which may look like flags.
 */
function splitArgs(argv: readonly string[]): { args: ParsedArgs; key: string; command: string[] } {
  const values: Record<string, string | boolean> = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--' || !a.startsWith('-')) break;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (name === '--recursive' || name === '-r') values.recursive = true;
    else if (name === '--after-index') {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new KvctlExit(KVCTL_EXIT.badArgs, 'Error:  flag needs an argument: --after-index\n');
      values['after-index'] = v;
    } else throw new KvctlExit(KVCTL_EXIT.badArgs, `Error:  flag provided but not defined: ${name}\n`);
  }
  if (argv[i] === '--') i++;
  const key = argv[i++];
  if (argv[i] === '--') i++;
  const command = argv.slice(i);
  if (key === undefined || command.length === 0) throw new KvctlExit(KVCTL_EXIT.badArgs, 'Error:  key and command to exec required\n');
  return { args: { values, positionals: [key] }, key, command };
}

/** etcdctl 2.3's `environResponse`: the change, for the command. */
export function watchEnvironment(resp: KeysResponse, env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  out.ETCD_WATCH_ACTION = resp.action;
  out.ETCD_WATCH_MODIFIED_INDEX = String(resp.node.modifiedIndex ?? 0);
  out.ETCD_WATCH_KEY = resp.node.key ?? '';
  out.ETCD_WATCH_VALUE = resp.node.value ?? '';
  return out;
}

/**
 * Watches `key` and runs the command on every change to a value (directory
 * changes are reported on stderr and skipped), with `ETCD_WATCH_ACTION`,
 * `ETCD_WATCH_KEY`, `ETCD_WATCH_VALUE` and `ETCD_WATCH_MODIFIED_INDEX` in its
 * environment, as etcdctl v2 does.
 *
 * @remarks
 * As in etcdctl, commands start as changes arrive, without waiting for the
 * previous one to finish; their output goes to kvctl's stdout and stderr.
 * A command that cannot be started ends kvctl with exit 1; an abort
 * (SIGINT) ends it with 0.
 */
export async function execWatchCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const { args, key, command } = splitArgs(argv);
  const [file, ...fileArgs] = command as [string, ...string[]];
  const env = ctx.io.env ?? {};
  const inherit = ctx.io.stdout === process.stdout && ctx.io.stderr === process.stderr;
  const stdio: StdioOptions = inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'];
  let failed: ((e: KvctlExit) => void) | undefined;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => undefined);

  const run = (resp: KeysResponse): void => {
    const child = spawn(file, fileArgs, { env: watchEnvironment(resp, env), stdio });
    child.stdout?.on('data', (d: Buffer) => ctx.io.stdout.write(d.toString()));
    child.stderr?.on('data', (d: Buffer) => ctx.io.stderr.write(d.toString()));
    child.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? `exec: "${file}": executable file not found in $PATH` : `exec: "${file}": ${e.message}`;
      failed?.(new KvctlExit(KVCTL_EXIT.badArgs, why + '\n'));
    });
  };

  const changes = watchChanges(ctx, key, { recursive: args.values.recursive === true, afterIndex: intFlag(args, 'after-index') });
  for (;;) {
    const next = await Promise.race([changes.next(), failure]);
    if (next.done) return 0;
    const resp = next.value;
    if (resp.node.dir) {
      ctx.err(`Ignored dir ${resp.node.key ?? ''} change`);
      continue;
    }
    run(resp);
  }
}
