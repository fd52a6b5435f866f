/** `kvctl member list|add [--learner]|remove|update|promote`. @packageDocumentation */
import type { KvctlClient } from '../client.js';
import { KVCTL_EXIT, KvctlExit, errorExit, parseCommandArgs, type KvctlContext } from '../io.js';

/** A member in `/v2/members`' shape. */
export interface V2Member {
  readonly id: string;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  /** Present (true) on learners only. */
  readonly isLearner?: boolean;
}

function membersErrorText(status: number, text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: string }).message;
    if (typeof m === 'string') return m;
  } catch {
    /* not JSON */
  }
  return `unexpected HTTP status ${status}`;
}

/** `GET /v2/members`. */
export async function listMembers(client: KvctlClient): Promise<V2Member[]> {
  const a = await client.request('GET', '/v2/members');
  if (a.status !== 200) throw new Error(membersErrorText(a.status, a.text));
  return (JSON.parse(a.text) as { members: V2Member[] }).members;
}

async function leaderOf(client: KvctlClient): Promise<V2Member> {
  const a = await client.request('GET', '/v2/members/leader');
  if (a.status !== 200) throw new Error(membersErrorText(a.status, a.text));
  return JSON.parse(a.text) as V2Member;
}

/** Runs `member <sub> …`. */
export async function memberCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, { learner: { type: 'boolean' } });
  const [sub, ...rest] = args.positionals;
  if (args.values.learner === true && sub !== 'add') throw new KvctlExit(KVCTL_EXIT.badArgs, 'Error:  --learner goes with member add\n');
  const fail = (text: string): KvctlExit => new KvctlExit(KVCTL_EXIT.badArgs, text);
  const guard = async <T>(f: () => Promise<T>, prefix = ''): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      if (e instanceof KvctlExit) throw e;
      if (e instanceof Error && e.name === 'ClusterUnavailableError') throw errorExit(ctx, KVCTL_EXIT.badConnection, e);
      throw fail(`${prefix}${(e as Error).message}\n`);
    }
  };
  switch (sub) {
    case 'list': {
      if (rest.length !== 0) throw fail('No arguments accepted\n');
      const members = await guard(() => listMembers(ctx.client));
      let leader: V2Member;
      try {
        leader = await leaderOf(ctx.client);
      } catch (e) {
        throw fail(`Failed to get leader:  ${(e as Error).message}\n`);
      }
      for (const m of members) {
        const learner = m.isLearner === true ? ' isLearner=true' : '';
        if (m.name === '') ctx.out(`${m.id}[unstarted]: peerURLs=${m.peerURLs.join(',')}${learner}`);
        else ctx.out(`${m.id}: name=${m.name} peerURLs=${m.peerURLs.join(',')} clientURLs=${m.clientURLs.join(',')} isLeader=${m.id === leader.id}${learner}`);
      }
      return 0;
    }
    case 'add': {
      if (rest.length !== 2) throw fail('Provide a name and a single member peerURL\n');
      const [newName, url] = rest as [string, string];
      const added = await guard(async () => {
        const a = await ctx.client.request('POST', '/v2/members', { json: { peerURLs: [url], ...(args.values.learner === true ? { isLearner: true } : {}) } });
        if (a.status !== 201) throw new Error(membersErrorText(a.status, a.text));
        return JSON.parse(a.text) as V2Member;
      });
      ctx.out(`Added ${args.values.learner === true ? 'learner' : 'member'} named ${newName} with ID ${added.id} to cluster`);
      const members = await guard(() => listMembers(ctx.client));
      const conf: string[] = [];
      for (const m of members) for (const u of m.peerURLs) conf.push(`${m.id === added.id ? newName : m.name}=${u}`);
      ctx.out('');
      ctx.out(`ETCD_NAME=${JSON.stringify(newName)}`);
      ctx.out(`ETCD_INITIAL_CLUSTER=${JSON.stringify(conf.join(','))}`);
      ctx.out('ETCD_INITIAL_CLUSTER_STATE="existing"');
      return 0;
    }
    case 'remove': {
      if (rest.length !== 1) throw fail('Provide a single member ID\n');
      const id = rest[0]!;
      const members = await guard(() => listMembers(ctx.client), 'Error while verifying ID against known members: ');
      let found = false;
      for (const m of members) {
        if (m.id === id) found = true;
        if (m.name === id) {
          ctx.err(`Found a member named ${m.name}; if this is correct, please use its ID, eg:\n\tetcdctl member remove ${m.id}`);
          ctx.err('For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n');
        }
      }
      if (!found) throw fail(`Couldn't find a member in the cluster with an ID of ${id}.\n`);
      const a = await guard(() => ctx.client.request('DELETE', `/v2/members/${encodeURIComponent(id)}`));
      if (a.status !== 204) throw fail(`Received an error trying to remove member ${id}: ${membersErrorText(a.status, a.text)}`);
      ctx.out(`Removed member ${id} from cluster`);
      return 0;
    }
    case 'update': {
      if (rest.length !== 2) throw fail('Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)\n');
      const [id, urls] = rest as [string, string];
      const a = await guard(() => ctx.client.request('PUT', `/v2/members/${encodeURIComponent(id)}`, { json: { peerURLs: urls.split(',') } }));
      if (a.status !== 204) throw fail(`${membersErrorText(a.status, a.text)}\n`);
      ctx.out(`Updated member with ID ${id} in cluster`);
      return 0;
    }
    case 'promote': {
      if (rest.length !== 1) throw fail('Error:  member ID is not provided\n');
      const id = rest[0]!;
      if (!/^[0-9a-fA-F]{1,16}$/.test(id)) throw fail(`Error:  bad member ID arg (strconv.ParseUint: parsing ${JSON.stringify(id)}: invalid syntax), expecting ID in Hex\n`);
      const a = await guard(() => ctx.client.request('POST', `/v2/members/${id}/promote`));
      if (a.status !== 200) throw fail(`Error:  ${membersErrorText(a.status, a.text)}\n`);
      ctx.out(`Member ${id} promoted in cluster ${a.headers.get('x-etcd-cluster-id') ?? ''}`);
      return 0;
    }
    default:
      throw fail(`Error:  member: unknown subcommand ${JSON.stringify(sub ?? '')} (want list, add, remove, update or promote)\n`);
  }
}
