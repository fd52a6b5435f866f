/** `kvctl ls [key] [--recursive] [-p] [--sort] [--quorum]`. @packageDocumentation */
import type { EtcdV2Node } from '../client.js';
import { keysCall, parseCommandArgs, printResponseKey, type KvctlContext } from '../io.js';

/** Lists a directory's keys one per line (`-p` marks directories with `/`). */
export async function lsCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, { recursive: { type: 'boolean' }, p: { type: 'boolean', short: 'p' }, sort: { type: 'boolean' }, quorum: { type: 'boolean' } });
  const key = args.positionals[0] ?? '/';
  const params: Record<string, string> = {};
  if (args.values.recursive) params.recursive = 'true';
  if (args.values.sort) params.sorted = 'true';
  if (args.values.quorum) params.quorum = 'true';
  const resp = await keysCall(ctx, () => ctx.client.keys('GET', key, params));
  if (ctx.output !== 'simple') {
    printResponseKey(ctx, resp);
    return 0;
  }
  const slash = args.values.p === true;
  const rPrint = (n: EtcdV2Node): void => {
    ctx.out(n.dir && slash ? `${n.key ?? ''}/` : (n.key ?? ''));
    for (const c of n.nodes ?? []) rPrint(c);
  };
  if (!resp.node.dir) ctx.out(resp.node.key ?? '');
  for (const c of resp.node.nodes ?? []) rPrint(c);
  return 0;
}
