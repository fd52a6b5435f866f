/** `kvctl cluster-health`. @packageDocumentation */
import { KVCTL_EXIT, errorExit, parseCommandArgs, type KvctlContext } from '../io.js';
import { describeConnectError } from '../client.js';
import { listMembers, type V2Member } from './member.js';

/** Checks `/health` of every member on its client URLs; exit 5 unless all are healthy. */
export async function clusterHealthCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  parseCommandArgs(argv, { forever: { type: 'boolean', short: 'f' } });
  let members: V2Member[];
  try {
    members = await listMembers(ctx.client);
  } catch (e) {
    ctx.out('cluster may be unhealthy: failed to list members');
    throw errorExit(ctx, KVCTL_EXIT.serverError, e);
  }
  let healthy = 0;
  for (const m of members) {
    if (m.clientURLs.length === 0) {
      ctx.out(`member ${m.id} is unreachable: no available published client urls`);
      continue;
    }
    let checked = false;
    for (const url of m.clientURLs) {
      let text: string;
      try {
        text = (await ctx.client.requestOne(url, 'GET', '/health')).text;
      } catch (e) {
        ctx.out(`failed to check the health of member ${m.id} on ${url}: Get "${url}/health": ${describeConnectError(url, e)}`);
        continue;
      }
      let health: unknown;
      try {
        health = (JSON.parse(text) as { health?: unknown }).health;
      } catch (e) {
        ctx.out(`failed to check the health of member ${m.id} on ${url}: ${(e as Error).message}`);
        continue;
      }
      checked = true;
      if (health === 'true') {
        ctx.out(`member ${m.id} is healthy: got healthy result from ${url}`);
        healthy++;
      } else {
        ctx.out(`member ${m.id} is unhealthy: got unhealthy result from ${url}`);
      }
      break;
    }
    if (!checked) ctx.out(`member ${m.id} is unreachable: [${m.clientURLs.join(' ')}] are all unreachable`);
  }
  if (healthy === members.length) {
    ctx.out('cluster is healthy');
    return 0;
  }
  ctx.out(healthy === 0 ? 'cluster is unavailable' : 'cluster is degraded');
  return KVCTL_EXIT.clusterNotHealthy;
}
