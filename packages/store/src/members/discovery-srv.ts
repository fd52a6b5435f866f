import { Resolver } from 'node:dns/promises';
import { KvError, KvErrorCode } from '../errors.js';

/** Options of {@link discoverSrv}. */
export interface SrvDiscoveryOptions {
  /** The domain to look up, e.g. `example.com` (etcd `--discovery-srv`). */
  readonly domain: string;
  /** This member's name. */
  readonly name: string;
  /** This member's advertised peer URLs (etcd `--initial-advertise-peer-urls`). */
  readonly advertisePeerUrls: readonly string[];
  /** DNS servers to ask (`host` or `host:port`), for tests and private zones. @defaultValue the system's */
  readonly dnsServers?: readonly string[];
}

/**
 * Builds the initial cluster from DNS SRV records, as etcd's
 * `--discovery-srv` does: `_kv-server-ssl._tcp.<domain>` and
 * `_etcd-server-ssl._tcp.<domain>` give `https://` peers,
 * `_kv-server._tcp.<domain>` and `_etcd-server._tcp.<domain>` give `http://`
 * peers. A target that is this member (same host name, or a host resolving
 * to the same address, and the same port as an advertised URL) takes this
 * member's name; the others are named by number, as etcd names them (their
 * names come later, when each publishes its own).
 *
 * @returns an `initialCluster` object: name → peer URLs.
 * @throws KvError 209 when no records are found, or when this member is not
 * among them (etcd: "cannot find local etcd member ... in SRV records").
 */
export async function discoverSrv(opts: SrvDiscoveryOptions): Promise<Record<string, string[]>> {
  const resolver = new Resolver();
  if (opts.dnsServers && opts.dnsServers.length > 0) resolver.setServers([...opts.dnsServers]);
  const services: [string, 'http' | 'https'][] = [
    [`_kv-server-ssl._tcp.${opts.domain}`, 'https'],
    [`_etcd-server-ssl._tcp.${opts.domain}`, 'https'],
    [`_kv-server._tcp.${opts.domain}`, 'http'],
    [`_etcd-server._tcp.${opts.domain}`, 'http'],
  ];
  const found: { url: string; host: string; port: number }[] = [];
  const errors: string[] = [];
  for (const [service, scheme] of services) {
    let records: { name: string; port: number }[];
    try {
      records = await resolver.resolveSrv(service);
    } catch (e) {
      errors.push(`${service}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    for (const r of records) {
      const host = r.name.replace(/\.$/, '');
      const url = `${scheme}://${host}:${r.port}`;
      if (!found.some((f) => f.url === url)) found.push({ url, host, port: r.port });
    }
  }
  if (found.length === 0) {
    throw new KvError(KvErrorCode.InvalidField, `no SRV records for ${opts.domain} (${errors.join('; ')})`, 0, `error setting up initial cluster: no SRV records found for ${opts.domain}`);
  }

  // Which target is this member: compare host names, then resolved addresses.
  const own = opts.advertisePeerUrls.map((u) => new URL(u));
  const addresses = async (host: string): Promise<string[]> => {
    if (/^[\d.]+$/.test(host) || host.includes(':')) return [host];
    try {
      return [...(await resolver.resolve4(host)), ...(await resolver.resolve6(host).catch(() => []))];
    } catch {
      return [];
    }
  };
  const ownAddrs = new Map<string, string[]>();
  for (const u of own) ownAddrs.set(u.href, await addresses(u.hostname));
  const cluster: Record<string, string[]> = {};
  let next = 0;
  let foundSelf = false;
  for (const f of found) {
    let isSelf = false;
    for (const u of own) {
      const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
      if (port !== f.port) continue;
      if (u.hostname === f.host) isSelf = true;
      else {
        const theirs = await addresses(f.host);
        if (theirs.some((a) => ownAddrs.get(u.href)!.includes(a))) isSelf = true;
      }
      if (isSelf) break;
    }
    if (isSelf) {
      foundSelf = true;
      // This member is listed under its own advertised URLs.
      cluster[opts.name] = [...opts.advertisePeerUrls];
    } else {
      cluster[String(next++)] = [f.url];
    }
  }
  if (!foundSelf) {
    throw new KvError(
      KvErrorCode.InvalidField,
      `cannot find local member ${opts.name} (${opts.advertisePeerUrls.join(',')}) in SRV records for ${opts.domain}`,
      0,
      `error setting up initial cluster: cannot find local etcd member "${opts.name}" in SRV records`,
    );
  }
  return cluster;
}
