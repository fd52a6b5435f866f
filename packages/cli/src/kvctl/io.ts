/**
 * kvctl's streams, exit codes and etcdctl-style printing.
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';
import { ClusterUnavailableError, EtcdApiError, type EtcdV2Node, type KeysResponse, type KvctlClient } from './client.js';

/** Where kvctl writes (process.stdout or anything with `write`). */
export interface KvctlWritable {
  write(chunk: string): unknown;
  /** A terminal: progress bars are drawn (and redrawn) only then. */
  readonly isTTY?: boolean;
  /** The terminal's width in characters. @defaultValue 80 */
  readonly columns?: number;
}

/** What {@link runKvctl} runs with. */
export interface KvctlIo {
  readonly stdout: KvctlWritable;
  readonly stderr: KvctlWritable;
  /**
   * Environment (`ETCDCTL_ENDPOINTS`, `ETCDCTL_ENDPOINT`, `KVCTL_PASSWORD`,
   * ...); also what `exec-watch` runs its command with. @defaultValue `{}`
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Aborts long-running commands (`watch --forever`); they then exit 0. */
  readonly signal?: AbortSignal;
}

/** etcdctl's exit codes. */
export const KVCTL_EXIT = {
  success: 0,
  badArgs: 1,
  badConnection: 2,
  badAuth: 3,
  serverError: 4,
  clusterNotHealthy: 5,
} as const;

/** Thrown by commands to end with a message on stderr and an exit code. */
export class KvctlExit extends Error {
  constructor(
    readonly code: number,
    readonly stderrText: string = '',
  ) {
    super(stderrText.trim() || `exit ${code}`);
    this.name = 'KvctlExit';
  }
}

/** Output format of the v2 key commands. */
export type KvctlOutput = 'simple' | 'json' | 'extended';

/** What every command gets. */
export interface KvctlContext {
  readonly io: KvctlIo;
  readonly endpoints: readonly string[];
  readonly output: KvctlOutput;
  readonly client: KvctlClient;
  out(line: string): void;
  err(line: string): void;
}

/** etcdctl's handleError: `Error:  <err>` (plus the cluster error's detail) and the code. */
export function errorExit(ctx: KvctlContext, code: number, e: unknown): KvctlExit {
  if (ctx.output === 'json' && e instanceof EtcdApiError) {
    return new KvctlExit(code, JSON.stringify({ errorCode: e.errorCode, message: e.etcdMessage, cause: e.etcdCause, index: e.index }) + '\n');
  }
  if (e instanceof KvctlExit) return e;
  const msg = e instanceof Error ? e.message : String(e);
  let text = `Error:  ${msg}\n`;
  if (e instanceof ClusterUnavailableError) text += e.detail() + '\n';
  return new KvctlExit(code, text);
}

/** Go's encoding/json of client.Node (fields in etcd client order, `nodes` null when absent). */
function goNode(n: EtcdV2Node | undefined): unknown {
  if (n === undefined) return null;
  const o: Record<string, unknown> = { key: n.key ?? '' };
  if (n.dir) o.dir = true;
  o.value = n.value ?? '';
  o.nodes = n.nodes ? n.nodes.map(goNode) : null;
  o.createdIndex = n.createdIndex ?? 0;
  o.modifiedIndex = n.modifiedIndex ?? 0;
  if (n.expiration !== undefined) o.expiration = n.expiration;
  if (n.ttl !== undefined && n.ttl !== 0) o.ttl = n.ttl;
  return o;
}

/** etcdctl v2's printResponseKey. */
export function printResponseKey(ctx: KvctlContext, resp: KeysResponse): void {
  switch (ctx.output) {
    case 'simple':
      if (resp.action !== 'delete') ctx.out(resp.node.value ?? '');
      else ctx.out(`PrevNode.Value: ${resp.prevNode?.value ?? ''}`);
      return;
    case 'extended':
      ctx.out(`Key: ${resp.node.key ?? ''}`);
      ctx.out(`Created-Index: ${resp.node.createdIndex ?? 0}`);
      ctx.out(`Modified-Index: ${resp.node.modifiedIndex ?? 0}`);
      if (resp.prevNode !== undefined) ctx.out(`PrevNode.Value: ${resp.prevNode.value ?? ''}`);
      ctx.out(`TTL: ${resp.node.ttl ?? 0}`);
      ctx.out(`Index: ${resp.index}`);
      if (resp.action !== 'delete') {
        ctx.out('');
        ctx.out(resp.node.value ?? '');
      }
      return;
    case 'json':
      ctx.out(JSON.stringify({ action: resp.action, node: goNode(resp.node), prevNode: goNode(resp.prevNode) }));
      return;
  }
}

/** Parsed command-line arguments of one command. */
export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

/** An option of a command, as node:util parseArgs takes it. */
export interface KvctlOptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
}

/** Parses a command's arguments; bad flags end with exit code 1. */
export function parseCommandArgs(argv: readonly string[], options: Readonly<Record<string, KvctlOptionSpec>>): ParsedArgs {
  try {
    const r = parseArgs({ args: [...argv], options: options as Record<string, KvctlOptionSpec>, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new KvctlExit(KVCTL_EXIT.badArgs, `Error:  ${(e as Error).message}\n`);
  }
}

/** An integer flag (`--ttl`, `--swap-with-index`, …); 0 when absent. */
export function intFlag(args: ParsedArgs, name: string): number {
  const v = args.values[name];
  if (v === undefined || v === false) return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new KvctlExit(KVCTL_EXIT.badArgs, `Error:  invalid value "${String(v)}" for flag -${name}\n`);
  return n;
}

/** The first positional or a usage error (`Error:  key required`). */
export function requireArg(args: ParsedArgs, i: number, what: string): string {
  const v = args.positionals[i];
  if (v === undefined) throw new KvctlExit(KVCTL_EXIT.badArgs, `Error:  ${what} required\n`);
  return v;
}

/** Runs a keys API call, mapping failures to etcdctl's exit codes. */
export async function keysCall<T>(ctx: KvctlContext, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw errorExit(ctx, KVCTL_EXIT.serverError, e);
  }
}
