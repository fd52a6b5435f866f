/** `kvctl get <key> [--quorum] [--sort]`. @packageDocumentation */
import { KvctlExit, keysCall, parseCommandArgs, printResponseKey, requireArg, type KvctlContext } from '../io.js';

/** Prints a key's value; a directory is an error (exit 1), as etcdctl. */
export async function getCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, { quorum: { type: 'boolean' }, sort: { type: 'boolean' } });
  const key = requireArg(args, 0, 'key');
  const params: Record<string, string> = {};
  if (args.values.quorum) params.quorum = 'true';
  if (args.values.sort) params.sorted = 'true';
  const resp = await keysCall(ctx, () => ctx.client.keys('GET', key, params));
  if (resp.node.dir) throw new KvctlExit(1, `${resp.node.key ?? key}: is a directory\n`);
  printResponseKey(ctx, resp);
  return 0;
}
