/** `kvctl rmdir <key>`. @packageDocumentation */
import { keysCall, parseCommandArgs, printResponseKey, requireArg, type KvctlContext } from '../io.js';

/** Removes an empty directory; prints nothing in simple output, as etcdctl. */
export async function rmdirCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, {});
  const key = requireArg(args, 0, 'key');
  const resp = await keysCall(ctx, () => ctx.client.keys('DELETE', key, { dir: 'true' }));
  if (!resp.node.dir || ctx.output !== 'simple') printResponseKey(ctx, resp);
  return 0;
}
