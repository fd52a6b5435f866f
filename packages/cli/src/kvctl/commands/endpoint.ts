/** `kvctl endpoint status|health [-w table|json|simple]`. @packageDocumentation */
import { KvctlClient, describeConnectError, normaliseEndpoint } from '../client.js';
import { KVCTL_EXIT, KvctlExit, parseCommandArgs, type KvctlContext } from '../io.js';
import { humanBytes, renderTable } from '../table.js';

/** One endpoint's status, as `endpoint status` shows it. */
export interface EndpointStatus {
  readonly endpoint: string;
  readonly id: string;
  readonly version: string;
  readonly dbSize: number;
  readonly isLeader: boolean;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly appliedIndex: number;
}

async function getJson(client: KvctlClient, path: string): Promise<{ body: Record<string, unknown>; headers: Headers }> {
  const a = await client.request('GET', path);
  if (a.status !== 200) throw new Error(`${path}: HTTP ${a.status}`);
  return { body: JSON.parse(a.text) as Record<string, unknown>, headers: a.headers };
}

/** Fetches one endpoint's status from `/v2/stats/self`, `/version` and `/metrics` (through `base`'s auth and TLS settings). */
export async function endpointStatus(base: KvctlClient, endpoint: string): Promise<EndpointStatus> {
  const client = base.only(endpoint);
  const self = (await getJson(client, '/v2/stats/self')).body;
  const version = (await getJson(client, '/version')).body;
  let dbSize = 0;
  try {
    const m = await client.request('GET', '/metrics');
    const hit = /^kv_db_size_bytes\s+([0-9.e+]+)/m.exec(m.text);
    if (hit) dbSize = Number(hit[1]);
  } catch {
    /* optional */
  }
  let raftTerm = Number(self.raftTerm ?? 0);
  let raftIndex = Number(self.raftIndex ?? 0);
  if (self.raftTerm === undefined) {
    const k = await client.request('GET', '/v2/keys/');
    raftTerm = Number(k.headers.get('x-raft-term') ?? 0);
    raftIndex = Number(k.headers.get('x-raft-index') ?? 0);
  }
  return {
    endpoint,
    id: String(self.id ?? ''),
    version: String(version.etcdserver ?? ''),
    dbSize,
    isLeader: self.state === 'StateLeader',
    raftTerm,
    raftIndex,
    appliedIndex: Number(self.appliedIndex ?? raftIndex),
  };
}

function decimalId(hex: string): string | number {
  try {
    return JSON.parse(BigInt(`0x${hex}`).toString()) as number;
  } catch {
    return hex;
  }
}

/** Runs `endpoint status|health`. */
export async function endpointCommand(ctx: KvctlContext, argv: readonly string[], writeOut: string): Promise<number> {
  const args = parseCommandArgs(argv, { 'write-out': { type: 'string', short: 'w' } });
  const format = typeof args.values['write-out'] === 'string' ? args.values['write-out'] : writeOut;
  if (!['simple', 'table', 'json'].includes(format)) throw new KvctlExit(KVCTL_EXIT.badArgs, `Error: unsupported output format ${JSON.stringify(format)}\n`);
  const [sub] = args.positionals;
  if (sub === 'status') {
    const results: EndpointStatus[] = [];
    let failed = false;
    for (const ep of ctx.endpoints) {
      try {
        results.push(await endpointStatus(ctx.client, normaliseEndpoint(ep)));
        results[results.length - 1] = { ...results[results.length - 1]!, endpoint: ep };
      } catch (e) {
        failed = true;
        ctx.err(`Failed to get the status of endpoint ${ep} (${(e as Error).message.trim()})`);
      }
    }
    if (format === 'table') {
      const rows = results.map((r) => [r.endpoint, r.id, r.version, humanBytes(r.dbSize), String(r.isLeader), String(r.raftTerm), String(r.raftIndex)]);
      ctx.io.stdout.write(renderTable(['ENDPOINT', 'ID', 'VERSION', 'DB SIZE', 'IS LEADER', 'RAFT TERM', 'RAFT INDEX'], rows));
    } else if (format === 'json') {
      ctx.out(
        JSON.stringify(
          results.map((r) => ({
            Endpoint: r.endpoint,
            Status: {
              header: { member_id: decimalId(r.id), raft_term: r.raftTerm },
              version: r.version,
              dbSize: r.dbSize,
              leader: r.isLeader ? decimalId(r.id) : undefined,
              raftIndex: r.raftIndex,
              raftTerm: r.raftTerm,
              raftAppliedIndex: r.appliedIndex,
            },
          })),
        ),
      );
    } else {
      for (const r of results) ctx.out(`${r.endpoint}, ${r.id}, ${r.version}, ${humanBytes(r.dbSize)}, ${r.isLeader}, ${r.raftTerm}, ${r.raftIndex}`);
    }
    return failed ? KVCTL_EXIT.badArgs : 0;
  }
  if (sub === 'health') {
    const results: { endpoint: string; health: boolean; took: string; error?: string }[] = [];
    for (const ep of ctx.endpoints) {
      const start = performance.now();
      try {
        const r = await ctx.client.requestOne(ep, 'GET', '/health');
        let body: { health?: string; reason?: string } = {};
        try {
          body = JSON.parse(r.text) as typeof body;
        } catch {
          /* not JSON: unhealthy below */
        }
        const took = `${(performance.now() - start).toFixed(3)}ms`;
        if (body.health === 'true') results.push({ endpoint: ep, health: true, took });
        else results.push({ endpoint: ep, health: false, took, error: body.reason ?? `health check returned HTTP ${r.status}` });
      } catch (e) {
        results.push({ endpoint: ep, health: false, took: `${(performance.now() - start).toFixed(3)}ms`, error: describeConnectError(normaliseEndpoint(ep), e) });
      }
    }
    if (format === 'table') {
      ctx.io.stdout.write(renderTable(['ENDPOINT', 'HEALTH', 'TOOK', 'ERROR'], results.map((r) => [r.endpoint, String(r.health), r.took, r.error ?? ''])));
    } else if (format === 'json') {
      ctx.out(JSON.stringify(results.map((r) => ({ endpoint: r.endpoint, health: r.health, took: r.took, ...(r.error !== undefined ? { error: r.error } : {}) }))));
    } else {
      for (const r of results) {
        if (r.health) ctx.out(`${r.endpoint} is healthy: successfully committed proposal: took = ${r.took}`);
        else ctx.err(`${r.endpoint} is unhealthy: failed to commit proposal: ${r.error ?? ''}`);
      }
    }
    if (results.some((r) => !r.health)) throw new KvctlExit(KVCTL_EXIT.badArgs, 'Error: unhealthy cluster\n');
    return 0;
  }
  throw new KvctlExit(KVCTL_EXIT.badArgs, `Error:  endpoint: unknown subcommand ${JSON.stringify(sub ?? '')} (want status or health)\n`);
}
