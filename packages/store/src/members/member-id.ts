import { createHash } from 'node:crypto';

/**
 * A member ID as etcd derives it: the first 8 bytes of SHA-1 over the sorted
 * peer URLs, the cluster token and (for members added at run time) the time
 * of the addition, printed as lowercase hex without leading zeros.
 *
 * @remarks
 * Initial members get IDs every member computes alike from the initial
 * cluster; a member added later gets a fresh one (the time is in it), so an
 * ID is never reused even when the same address is added back.
 */
export function memberId(peerUrls: readonly string[], clusterToken: string, addedAtMs?: number): string {
  const h = createHash('sha1');
  h.update([...peerUrls].sort().join(''));
  h.update(clusterToken);
  if (addedAtMs !== undefined) h.update(String(addedAtMs));
  return trimHex(h.digest().subarray(0, 8).toString('hex'));
}

/**
 * The cluster ID: the first 8 bytes of SHA-1 over the initial members' IDs
 * (as 64-bit big-endian numbers, sorted), like etcd's.
 */
export function clusterId(memberIds: readonly string[]): string {
  const h = createHash('sha1');
  const sorted = [...memberIds].map((id) => BigInt('0x' + id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const id of sorted) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(id);
    h.update(b);
  }
  return trimHex(h.digest().subarray(0, 8).toString('hex'));
}

function trimHex(hex: string): string {
  return hex.replace(/^0+(?=.)/, '');
}

/**
 * Parses etcd's `--initial-cluster` form, `name=url,name=url` (a name may
 * appear more than once, for several URLs), or takes an object.
 *
 * @throws Error naming the malformed part.
 */
export function parseInitialCluster(spec: string | Readonly<Record<string, string | readonly string[]>>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (name: string, url: string): void => {
    if (!name) throw new Error(`initial cluster: empty member name in ${JSON.stringify(spec)}`);
    if (!/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(url)) throw new Error(`initial cluster: ${JSON.stringify(url)} (member ${name}) is not a URL`);
    const urls = out.get(name) ?? [];
    if (!urls.includes(url)) urls.push(url);
    out.set(name, urls);
  };
  if (typeof spec === 'string') {
    for (const part of spec.split(',')) {
      const p = part.trim();
      if (!p) continue;
      const eq = p.indexOf('=');
      if (eq <= 0) throw new Error(`initial cluster: ${JSON.stringify(p)} is not name=url`);
      add(p.slice(0, eq).trim(), p.slice(eq + 1).trim());
    }
  } else {
    for (const [name, urls] of Object.entries(spec)) for (const u of typeof urls === 'string' ? [urls] : urls) add(name, u);
  }
  if (out.size === 0) throw new Error('initial cluster: no members');
  return out;
}
