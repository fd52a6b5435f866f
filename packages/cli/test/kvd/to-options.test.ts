// toNodeOptions (src/kvd/to-options.ts): a KvdConfig to createNode's options,
// wsTransport's options and the HTTP URLs; and the seeds' etcd command lines,
// environments and config files, verbatim, through loadConfig and toNodeOptions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { loadConfig } from '../../src/kvd/config.ts';
import { toNodeOptions } from '../../src/kvd/to-options.ts';

/**
 * A shell command line as a seed shows it — prompt, `etcd`, `\` continuations
 * with `> ` prompts and a trailing `&` — as the argv `kvd` would get in place
 * of `etcd`. Handles the quoting the seeds use (none, '…' and "…").
 */
function seedArgv(text: string): string[] {
  const cmd = text
    .replace(/\\\n(\s*\n)*\s*(> )?/g, ' ')
    .replace(/^.*?#\s*/, (m) => (m.includes('[') ? '' : m))
    .replace(/^\$\s*/, '')
    .trim()
    .replace(/\s*&$/, '');
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(cmd); m !== null; m = re.exec(cmd)) words.push(m[1] ?? m[2] ?? m[3]);
  assert.equal(words[0], 'etcd', `a seed etcd command line: ${cmd}`);
  return words.slice(1);
}

/** `KEY="value"` lines (a systemd EnvironmentFile, as in seed 000) as an environment. */
function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_]+)=(?:"([^"]*)"|(.*))\s*$/.exec(line);
    if (m) env[m[1]] = m[2] ?? m[3];
  }
  return env;
}

describe('toNodeOptions', () => {
  test('createNode, wsTransport and HTTP options from a static cluster config', () => {
    const config = loadConfig({
      argv: [
        '--name=m1', '--data-dir=/d/m1',
        '--listen-peer-urls=http://0.0.0.0:2380,http://127.0.0.1:12380',
        '--initial-advertise-peer-urls=http://10.0.0.1:2380',
        '--listen-client-urls=http://0.0.0.0:2379', '--advertise-client-urls=http://10.0.0.1:2379',
        '--initial-cluster=m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380',
        '--heartbeat-interval=50', '--election-timeout=500', '--snapshot-count=1000',
        '--peer-secret=shh',
      ],
      env: {},
    });
    const o = toNodeOptions(config, () => assert.fail('no files to read'));
    assert.deepEqual(o.node, {
      name: 'm1',
      dataDir: '/d/m1',
      initialCluster: 'm1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380',
      initialClusterState: 'new',
      initialClusterToken: 'etcd-cluster',
      initialAdvertisePeerUrls: ['http://10.0.0.1:2380'],
      advertiseClientUrls: ['http://10.0.0.1:2379'],
      heartbeatIntervalMs: 50,
      electionTimeoutMs: 500,
      snapshotCount: 1000,
    });
    assert.deepEqual(o.transport, { listen: 'http://0.0.0.0:2380', advertise: 'http://10.0.0.1:2380', secret: 'shh' });
    assert.deepEqual(o.http, { listen: ['http://0.0.0.0:2379'], advertise: ['http://10.0.0.1:2379'] });
    assert.deepEqual(o.unusedListenPeerUrls, ['http://127.0.0.1:12380']);
  });

  test('defaults map to a one-member cluster on localhost', () => {
    const o = toNodeOptions(loadConfig({ argv: [], env: {} }));
    assert.equal(o.node.name, 'default');
    assert.equal(o.node.dataDir, 'default.kv');
    assert.equal(o.node.initialCluster, 'default=http://localhost:2380');
    assert.deepEqual(o.transport, { listen: 'http://localhost:2380', advertise: 'http://localhost:2380' });
    assert.deepEqual(o.http.listen, ['http://localhost:2379']);
  });

  test('TLS from the cert, key and CA files, read through readFile', () => {
    const files: Record<string, string> = { '/c.pem': 'CERT', '/k.pem': 'KEY', '/ca.pem': 'CA' };
    const read: string[] = [];
    const config = loadConfig({
      argv: ['--listen-peer-urls', 'https://127.0.0.1:2380', '--initial-advertise-peer-urls', 'https://127.0.0.1:2380',
        '--peer-cert-file', '/c.pem', '--peer-key-file', '/k.pem', '--peer-trusted-ca-file', '/ca.pem', '--peer-client-cert-auth'],
      env: {},
    });
    const o = toNodeOptions(config, (p) => {
      read.push(p);
      return Buffer.from(files[p]);
    });
    assert.deepEqual(read.sort(), ['/c.pem', '/ca.pem', '/k.pem']);
    assert.equal(o.transport.listen, 'https://127.0.0.1:2380');
    assert.equal(String(o.transport.tls?.cert), 'CERT');
    assert.equal(String(o.transport.tls?.key), 'KEY');
    assert.equal(String(o.transport.tls?.ca), 'CA');
    assert.equal(o.transport.tls?.clientCertAuth, true);
    assert.throws(() => toNodeOptions(config), /readFile/);
  });

  test('discovery: no initialCluster, and the default token is left to the discovery URL', () => {
    const a = toNodeOptions(loadConfig({ argv: ['--discovery', 'http://127.0.0.1:2379/v2/keys/discovery/abc'], env: {} }));
    assert.equal(a.node.discovery, 'http://127.0.0.1:2379/v2/keys/discovery/abc');
    assert.equal('initialCluster' in a.node, false);
    assert.equal('initialClusterToken' in a.node, false);
    const b = toNodeOptions(loadConfig({ argv: ['--discovery', 'http://127.0.0.1:2379/d', '--initial-cluster-token', 't'], env: {} }));
    assert.equal(b.node.initialClusterToken, 't');
  });

  test('discovery-srv with DNS servers', () => {
    const o = toNodeOptions(loadConfig({ argv: ['--discovery-srv', 'hi-etcd.com', '--dns-servers', '127.0.0.1:5353'], env: {} }));
    assert.equal(o.node.discoverySrv, 'hi-etcd.com');
    assert.deepEqual(o.node.dnsServers, ['127.0.0.1:5353']);
    assert.equal('initialCluster' in o.node, false);
  });
});

describe('the seeds, verbatim', () => {
  // seed 000 (a static three-member cluster, etcd v2 single-dash flags).
  const seed000Master1 = String.raw`[root@master1 ~]# etcd -name master1 \

> -initial-advertise-peer-urls http://192.168.0.10:2380 \
> -listen-peer-urls http://192.168.0.10:2380 \
> -listen-client-urls http://192.168.0.10:2379,http://127.0.0.1:2379 \
> -advertise-client-urls http://192.168.0.10:2379 \
> -initial-cluster-token mytoken \
> -initial-cluster master1=http://192.168.0.10:2380,master2=http://192.168.0.20:2380,master3=http://192.168.0.30:2380 \
> -initial-cluster-state new &`;

  test('seed 000: etcd -name master1 ... (static cluster)', () => {
    const argv = seedArgv(seed000Master1);
    assert.equal(argv[0], '-name');
    const config = loadConfig({ argv, env: {} });
    const o = toNodeOptions(config);
    assert.deepEqual(o.node, {
      name: 'master1',
      dataDir: 'master1.kv',
      initialCluster: 'master1=http://192.168.0.10:2380,master2=http://192.168.0.20:2380,master3=http://192.168.0.30:2380',
      initialClusterState: 'new',
      initialClusterToken: 'mytoken',
      initialAdvertisePeerUrls: ['http://192.168.0.10:2380'],
      advertiseClientUrls: ['http://192.168.0.10:2379'],
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      snapshotCount: 100000,
    });
    assert.deepEqual(o.transport, { listen: 'http://192.168.0.10:2380', advertise: 'http://192.168.0.10:2380' });
    assert.deepEqual(o.http.listen, ['http://192.168.0.10:2379', 'http://127.0.0.1:2379']);
  });

  test('seed 001: etcd -name machine1 ... -discovery https://discovery.etcd.io/<token>', () => {
    const argv = seedArgv(String.raw`$ etcd -name machine1 -initial-advertise-peer-urls http://127.0.0.1:2380 \
> -listen-peer-urls http://127.0.0.1:2380 \
> -listen-client-urls http://127.0.0.1:2379 \
> -advertise-client-urls http://127.0.0.1:2379 \
> -discovery https://discovery.etcd.io/<token>`);
    const o = toNodeOptions(loadConfig({ argv, env: {} }));
    assert.equal(o.node.name, 'machine1');
    assert.equal(o.node.dataDir, 'machine1.kv');
    assert.equal(o.node.discovery, 'https://discovery.etcd.io/<token>');
    assert.equal(o.node.initialCluster, undefined);
    assert.deepEqual(o.node.initialAdvertisePeerUrls, ['http://127.0.0.1:2380']);
    assert.deepEqual(o.transport, { listen: 'http://127.0.0.1:2380', advertise: 'http://127.0.0.1:2380' });
  });

  test('seed 003: etcd -initial-cluster infra0=...,infra1=...,infra2=... -initial-cluster-state new, and its ETCD_* form', () => {
    const argv = seedArgv(
      'etcd -initial-cluster infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380,infra2=http://10.0.1.12:2380 -initial-cluster-state new',
    );
    // etcd would refuse this too without -name infra0: the default name is not in the cluster.
    assert.throws(() => loadConfig({ argv, env: {} }), /couldn't find local name "default"/);
    const withName = loadConfig({ argv: [...argv, '-name', 'infra1'], env: {} });
    assert.equal(withName.initialCluster, 'infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380,infra2=http://10.0.1.12:2380');
    // The same as environment: ETCD_INITIAL_CLUSTER="..." ETCD_INITIAL_CLUSTER_STATE=new etcd
    const viaEnv = loadConfig({
      argv: ['-name', 'infra1'],
      env: envFile('ETCD_INITIAL_CLUSTER="infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380,infra2=http://10.0.1.12:2380"\nETCD_INITIAL_CLUSTER_STATE=new'),
    });
    assert.deepEqual(toNodeOptions(viaEnv).node, toNodeOptions(withName).node);
  });

  test("seed 000: /etc/etcd/etcd.conf's ETCD_* variables", () => {
    const env = envFile(`ETCD_NAME=master2
ETCD_DATA_DIR="/var/lib/etcd/default.etcd"
ETCD_LISTEN_PEER_URLS="http://192.168.0.20:2380"
ETCD_LISTEN_CLIENT_URLS="http://0.0.0.0:2379"
ETCD_INITIAL_ADVERTISE_PEER_URLS="http://192.168.0.20:2380"
ETCD_INITIAL_CLUSTER="master1=http://192.168.0.10:2380,master2=http://192.168.0.20:2380,master3=http://192.168.0.30:2380"
ETCD_INITIAL_CLUSTER_STATE="new"
ETCD_INITIAL_CLUSTER_TOKEN="etcd-cluster"
ETCD_ADVERTISE_CLIENT_URLS="http://192.168.0.20:2379"`);
    const o = toNodeOptions(loadConfig({ argv: [], env }));
    assert.equal(o.node.name, 'master2');
    assert.equal(o.node.dataDir, '/var/lib/etcd/default.etcd');
    assert.equal(o.node.initialClusterToken, 'etcd-cluster');
    assert.deepEqual(o.http, { listen: ['http://0.0.0.0:2379'], advertise: ['http://192.168.0.20:2379'] });
    assert.deepEqual(o.transport, { listen: 'http://192.168.0.20:2380', advertise: 'http://192.168.0.20:2380' });
  });

  test('seed 002: etcd --config-file=/etc/etcd/conf-discovery-dns.yml (DNS SRV discovery)', () => {
    const yml = `name: etcd1
discovery-srv: hi-etcd.com
initial-advertise-peer-urls: http://etcd1.hi-etcd.com:2380
initial-cluster-token: etcd-cluster-1
initial-cluster-state: new
listen-client-urls: http://172.19.19.122:2379,http://127.0.0.1:2379
listen-peer-urls: http://172.19.19.122:2380
discovery-proxy:
advertise-client-urls: http://etcd1.hi-etcd.com:2379,http://127.0.0.1:2379
`;
    const argv = seedArgv('etcd --config-file=/etc/etcd/conf-discovery-dns.yml');
    const o = toNodeOptions(loadConfig({ argv, env: {}, readFile: () => yml }));
    assert.deepEqual(o.node, {
      name: 'etcd1',
      dataDir: 'etcd1.kv',
      discoverySrv: 'hi-etcd.com',
      initialClusterState: 'new',
      initialClusterToken: 'etcd-cluster-1',
      initialAdvertisePeerUrls: ['http://etcd1.hi-etcd.com:2380'],
      advertiseClientUrls: ['http://etcd1.hi-etcd.com:2379', 'http://127.0.0.1:2379'],
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      snapshotCount: 100000,
    });
    assert.deepEqual(o.transport, { listen: 'http://172.19.19.122:2380', advertise: 'http://etcd1.hi-etcd.com:2380' });
  });

  test('seed 002: a config file bootstrapping through a discovery URL', () => {
    const yml = `name: etcd2
initial-advertise-peer-urls: http://172.19.19.123:2380
listen-peer-urls: http://172.19.19.123:2380
listen-client-urls: http://172.19.19.123:2379,http://127.0.0.1:2379
advertise-client-urls: http://172.19.19.123:2379,http://127.0.0.1:2379
discovery: https://172.19.19.122:2379/v2/keys/discovery/0d8c6714-b4b1-4cc1-8ff4-d276f96d247f
`;
    const o = toNodeOptions(loadConfig({ argv: seedArgv('etcd --config-file=/etc/etcd/conf-discovery1.yml'), env: {}, readFile: () => yml }));
    assert.equal(o.node.discovery, 'https://172.19.19.122:2379/v2/keys/discovery/0d8c6714-b4b1-4cc1-8ff4-d276f96d247f');
    assert.equal(o.node.initialCluster, undefined);
    assert.equal(o.node.initialClusterToken, undefined);
    assert.deepEqual(o.http.listen, ['http://172.19.19.123:2379', 'http://127.0.0.1:2379']);
  });
});
