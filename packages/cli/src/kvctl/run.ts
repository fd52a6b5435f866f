/**
 * `runKvctl`: etcdctl v2's command line over kv's etcd v2 HTTP API.
 *
 * @packageDocumentation
 */
import { KvctlClient } from './client.js';
import { clientOptions } from './client-options.js';
import { KVCTL_EXIT, KvctlExit, type KvctlContext, type KvctlIo, type KvctlOutput } from './io.js';
import { clusterHealthCommand } from './commands/cluster-health.js';
import { endpointCommand } from './commands/endpoint.js';
import { execWatchCommand } from './commands/exec-watch.js';
import { getCommand } from './commands/get.js';
import { lsCommand } from './commands/ls.js';
import { memberCommand } from './commands/member.js';
import { mkCommand } from './commands/mk.js';
import { mkdirCommand } from './commands/mkdir.js';
import { rmCommand } from './commands/rm.js';
import { rmdirCommand } from './commands/rmdir.js';
import { setCommand } from './commands/set.js';
import { snapshotCommand } from './commands/snapshot.js';
import { updateCommand } from './commands/update.js';
import { watchCommand } from './commands/watch.js';

/** kvctl's usage text. */
export const KVCTL_USAGE = `NAME:
   kvctl - a command line client for kv (etcdctl v2 compatible)

USAGE:
   kvctl [global options] command [command options] [arguments...]

COMMANDS:
   set            set the value of a key (--ttl, --swap-with-value, --swap-with-index)
   get            retrieve the value of a key (--quorum, --sort)
   rm             remove a key or a directory (--dir, --recursive, --with-value, --with-index)
   mk             make a new key with a given value (--ttl)
   mkdir          make a new directory (--ttl)
   rmdir          removes the key if it is an empty directory or a key-value pair
   ls             retrieve a directory (--recursive, -p, --sort)
   update         update an existing key with a given value (--ttl)
   watch          watch a key for changes (--recursive, --forever, --after-index)
   exec-watch     watch a key for changes and exec an executable: exec-watch [--recursive] <key> -- <command> [args...]
   member         member list | add [--learner] <name> <peerURL> | remove <id> | update <id> <peerURLs> | promote <id>
   cluster-health check the health of the etcd cluster
   endpoint       endpoint status | health [-w simple|table|json]
   snapshot       snapshot save <file> | restore <file> --data-dir <dir> [--name --initial-cluster
                  --initial-cluster-token --initial-advertise-peer-urls] | status <file>

GLOBAL OPTIONS:
   --endpoints value           a comma-delimited list of machine addresses (default: "http://127.0.0.1:2379") [$ETCDCTL_ENDPOINTS]
   --output value, -o value    output response in the given format (simple, extended or json) (default: "simple")
   -w, --write-out value       output format of endpoint and snapshot status (simple, table, json)
   --username value, -u value  provide username[:password] (the password may come from $KVCTL_PASSWORD instead)
   --cert-file value           identify HTTPS client using this SSL certificate file (also --cert) [$ETCDCTL_CERT_FILE]
   --key-file value            identify HTTPS client using this SSL key file (also --key) [$ETCDCTL_KEY_FILE]
   --ca-file value             verify certificates of HTTPS-enabled servers using this CA bundle (also --cacert) [$ETCDCTL_CA_FILE]
   --insecure-skip-tls-verify  skip server certificate verification (for testing only)
   --help, -h                  show help
`;

const COMMANDS: Record<string, (ctx: KvctlContext, argv: readonly string[]) => Promise<number>> = {
  set: setCommand,
  get: getCommand,
  rm: rmCommand,
  mk: mkCommand,
  mkdir: mkdirCommand,
  rmdir: rmdirCommand,
  ls: lsCommand,
  update: updateCommand,
  watch: watchCommand,
  'exec-watch': execWatchCommand,
  member: memberCommand,
  'cluster-health': clusterHealthCommand,
};

const GLOBAL_WITH_VALUE = new Set([
  '--endpoints', '--endpoint', '--peers', '-C', '--output', '-o', '--write-out', '-w', '--timeout', '--total-timeout',
  '--username', '-u', '--user', '--password', '--cert-file', '--cert', '--key-file', '--key', '--ca-file', '--cacert',
]);
const GLOBAL_BOOLEAN = new Set(['--debug', '--no-sync', '--help', '-h', '--version', '-v', '--insecure-skip-tls-verify']);

/**
 * Runs kvctl with `argv` (without `node` and the script), writing to
 * `io.stdout`/`io.stderr`; resolves to the exit code (etcdctl's: 1 bad
 * arguments, 2 no endpoint reachable, 3 refused credentials, 4 server
 * error, 5 cluster unhealthy).
 *
 * @example
 * ```ts
 * const code = await runKvctl(['--endpoints', url, 'set', '/a', '1'], { stdout: process.stdout, stderr: process.stderr });
 * ```
 */
export async function runKvctl(argv: readonly string[], io: KvctlIo): Promise<number> {
  const env = io.env ?? {};
  let endpointsFlag: string | undefined;
  let output = 'simple';
  let writeOut = 'simple';
  let help = false;
  /** Auth and TLS flags, by the name given. */
  const connection = new Map<string, string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) break;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    let value: string | undefined;
    if (GLOBAL_WITH_VALUE.has(name)) {
      value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) {
        io.stderr.write(`Incorrect Usage: flag needs an argument: ${name}\n\n${KVCTL_USAGE}`);
        return KVCTL_EXIT.badArgs;
      }
      if (name === '--output' || name === '-o') output = value;
      else if (name === '--write-out' || name === '-w') writeOut = value;
      else if (name === '--endpoints' || name === '--endpoint' || name === '--peers' || name === '-C') endpointsFlag = value;
      else connection.set(name, value);
    } else if (GLOBAL_BOOLEAN.has(name)) {
      if (name === '--help' || name === '-h') help = true;
      if (name === '--insecure-skip-tls-verify') connection.set(name, 'true');
      if (name === '--version' || name === '-v') {
        io.stdout.write('kvctl version 0.1.0\nAPI version: 2\n');
        return 0;
      }
    } else {
      io.stderr.write(`Incorrect Usage: flag provided but not defined: ${name}\n\n${KVCTL_USAGE}`);
      return KVCTL_EXIT.badArgs;
    }
  }
  const command = argv[i];
  if (help || command === undefined || command === 'help') {
    (command === undefined && !help ? io.stderr : io.stdout).write(KVCTL_USAGE);
    return command === undefined && !help ? KVCTL_EXIT.badArgs : 0;
  }
  if (output !== 'simple' && output !== 'json' && output !== 'extended') {
    io.stderr.write(`Unsupported output format: ${output}\n`);
    return KVCTL_EXIT.badArgs;
  }
  const endpoints = (endpointsFlag ?? env.ETCDCTL_ENDPOINTS ?? env.ETCDCTL_ENDPOINT ?? 'http://127.0.0.1:2379')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (endpoints.length === 0) {
    io.stderr.write('Error:  no endpoints given\n');
    return KVCTL_EXIT.badArgs;
  }
  let client: KvctlClient;
  try {
    client = new KvctlClient(clientOptions(endpoints, connection, env));
  } catch (e) {
    if (!(e instanceof KvctlExit)) throw e;
    io.stderr.write(e.stderrText);
    return e.code;
  }
  const ctx: KvctlContext = {
    io,
    endpoints,
    output: output as KvctlOutput,
    client,
    out: (line) => void io.stdout.write(line + '\n'),
    err: (line) => void io.stderr.write(line + '\n'),
  };
  const rest = argv.slice(i + 1);
  try {
    if (command === 'endpoint') return await endpointCommand(ctx, rest, writeOut);
    if (command === 'snapshot') return await snapshotCommand(ctx, rest, writeOut);
    const f = COMMANDS[command];
    if (f === undefined) {
      io.stderr.write(`No help topic for '${command}'\n`);
      return KVCTL_EXIT.badArgs;
    }
    return await f(ctx, rest);
  } catch (e) {
    if (e instanceof KvctlExit) {
      if (e.stderrText !== '') io.stderr.write(e.stderrText);
      return e.code;
    }
    io.stderr.write(`Error:  ${(e as Error)?.message ?? String(e)}\n`);
    return KVCTL_EXIT.serverError;
  }
}
