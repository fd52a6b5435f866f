// kvd's configuration (src/kvd/config.ts): etcd's flags in every form Go's
// flag package accepts, KV_* and ETCD_* environment variables, a YAML
// --config-file with etcd's key names, precedence flags > env > file >
// defaults, etcd's defaults, and errors that name the flag.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { KvdConfigError, loadConfig, usage, type KvdConfigLogger } from '../../src/kvd/config.ts';

function recorder(): KvdConfigLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`I ${m}`), warn: (m) => lines.push(`W ${m}`) };
}

const load = (argv: string[], env: Record<string, string> = {}, readFile?: (p: string) => string) =>
  loadConfig({ argv, env, ...(readFile ? { readFile } : {}) });

function throwsConfig(fn: () => unknown, re: RegExp, flag?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof KvdConfigError, `expected KvdConfigError, got ${String(e)}`);
    assert.match(e.message, re);
    if (flag !== undefined) assert.equal(e.flag, flag);
    return true;
  });
}

describe('defaults', () => {
  test("etcd's defaults with no flags", () => {
    const log = recorder();
    const c = loadConfig({ argv: [], env: {}, logger: log });
    assert.equal(c.name, 'default');
    assert.equal(c.dataDir, 'default.kv');
    assert.deepEqual(c.listenPeerUrls, ['http://localhost:2380']);
    assert.deepEqual(c.initialAdvertisePeerUrls, ['http://localhost:2380']);
    assert.deepEqual(c.listenClientUrls, ['http://localhost:2379']);
    assert.deepEqual(c.advertiseClientUrls, ['http://localhost:2379']);
    assert.equal(c.initialCluster, 'default=http://localhost:2380');
    assert.equal(c.initialClusterState, 'new');
    assert.equal(c.initialClusterToken, 'etcd-cluster');
    assert.equal(c.heartbeatInterval, 100);
    assert.equal(c.electionTimeout, 1000);
    assert.equal(c.snapshotCount, 100000);
    assert.equal(c.discovery, undefined);
    assert.equal(c.discoverySrv, undefined);
    assert.equal(c.peerSecret, undefined);
    assert.equal(c.peerClientCertAuth, false);
    assert.equal(c.configFile, undefined);
    assert.equal(c.sources.name, 'default');
    assert.ok(log.lines.includes('W no data-dir provided, using default data-dir ./default.kv'));
  });

  test('data-dir and initial-cluster follow the name and advertised peer URLs', () => {
    const c = load(['--name', 'm1', '--initial-advertise-peer-urls', 'http://10.0.0.1:2380,http://10.0.0.1:12380']);
    assert.equal(c.dataDir, 'm1.kv');
    assert.equal(c.initialCluster, 'm1=http://10.0.0.1:2380,m1=http://10.0.0.1:12380');
  });

  test('no initial-cluster default with --discovery or --discovery-srv', () => {
    assert.equal(load(['--discovery', 'https://discovery.etcd.io/abc']).initialCluster, undefined);
    assert.equal(load(['--discovery-srv', 'example.com']).initialCluster, undefined);
  });

  test('usage lists every flag', () => {
    for (const f of ['--name', '--data-dir', '--initial-cluster', '--peer-secret', '--config-file']) assert.ok(usage().includes(f), f);
  });
});

describe('flag forms', () => {
  const forms: [string, string[]][] = [
    ['--flag value', ['--name', 'm1', '--heartbeat-interval', '50']],
    ['--flag=value', ['--name=m1', '--heartbeat-interval=50']],
    ['-flag value', ['-name', 'm1', '-heartbeat-interval', '50']],
    ['-flag=value', ['-name=m1', '-heartbeat-interval=50']],
  ];
  for (const [form, argv] of forms) {
    test(form, () => {
      const c = load(argv);
      assert.equal(c.name, 'm1');
      assert.equal(c.heartbeatInterval, 50);
      assert.equal(c.sources.name, 'flag');
    });
  }

  test('every flag', () => {
    const c = load([
      '--name', 'm2',
      '--data-dir', '/var/lib/kv/m2',
      '--listen-peer-urls', 'http://0.0.0.0:2380',
      '--initial-advertise-peer-urls', 'http://10.0.0.2:2380',
      '--listen-client-urls', 'http://0.0.0.0:2379,http://127.0.0.1:2379',
      '--advertise-client-urls', 'http://10.0.0.2:2379',
      '--initial-cluster', 'm1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380',
      '--initial-cluster-state', 'existing',
      '--initial-cluster-token', 'tok',
      '--heartbeat-interval', '200',
      '--election-timeout', '2000',
      '--snapshot-count', '5000',
      '--peer-secret', 's3cret',
      '--peer-cert-file', '/c.pem',
      '--peer-key-file', '/k.pem',
      '--peer-trusted-ca-file', '/ca.pem',
      '--peer-client-cert-auth',
    ]);
    assert.equal(c.name, 'm2');
    assert.equal(c.dataDir, '/var/lib/kv/m2');
    assert.deepEqual(c.listenPeerUrls, ['http://0.0.0.0:2380']);
    assert.deepEqual(c.initialAdvertisePeerUrls, ['http://10.0.0.2:2380']);
    assert.deepEqual(c.listenClientUrls, ['http://0.0.0.0:2379', 'http://127.0.0.1:2379']);
    assert.deepEqual(c.advertiseClientUrls, ['http://10.0.0.2:2379']);
    assert.equal(c.initialCluster, 'm1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380');
    assert.equal(c.initialClusterState, 'existing');
    assert.equal(c.initialClusterToken, 'tok');
    assert.equal(c.heartbeatInterval, 200);
    assert.equal(c.electionTimeout, 2000);
    assert.equal(c.snapshotCount, 5000);
    assert.equal(c.peerSecret, 's3cret');
    assert.equal(c.peerCertFile, '/c.pem');
    assert.equal(c.peerKeyFile, '/k.pem');
    assert.equal(c.peerTrustedCaFile, '/ca.pem');
    assert.equal(c.peerClientCertAuth, true);
  });

  test('a boolean flag takes =true/=false and no separate argument', () => {
    assert.equal(load(['--peer-trusted-ca-file', '/ca', '--peer-client-cert-auth=true']).peerClientCertAuth, true);
    assert.equal(load(['--peer-client-cert-auth=false']).peerClientCertAuth, false);
    throwsConfig(() => load(['--peer-client-cert-auth=maybe']), /--peer-client-cert-auth/, 'peer-client-cert-auth');
  });

  test('the last of a repeated flag wins, as in Go', () => {
    assert.equal(load(['--name', 'a', '--name', 'b']).name, 'b');
  });

  test('a value may start with a dash after a space-separated flag', () => {
    assert.equal(load(['--peer-secret', '-x-']).peerSecret, '-x-');
  });
});

describe('environment', () => {
  test('KV_* variables, logged like etcd', () => {
    const log = recorder();
    const c = loadConfig({
      argv: [],
      env: { KV_NAME: 'm1', KV_DATA_DIR: '/d', KV_INITIAL_CLUSTER: 'm1=http://10.0.0.1:2380', KV_INITIAL_ADVERTISE_PEER_URLS: 'http://10.0.0.1:2380', KV_SNAPSHOT_COUNT: '10' },
      logger: log,
    });
    assert.equal(c.name, 'm1');
    assert.equal(c.dataDir, '/d');
    assert.equal(c.initialCluster, 'm1=http://10.0.0.1:2380');
    assert.equal(c.snapshotCount, 10);
    assert.equal(c.sources.name, 'env');
    assert.ok(log.lines.includes('I recognized and used environment variable KV_NAME=m1'), log.lines.join('\n'));
  });

  test('ETCD_* variables, and KV_* wins over ETCD_*', () => {
    const log = recorder();
    const c = loadConfig({ argv: [], env: { ETCD_NAME: 'etcd-name', KV_NAME: 'kv-name', ETCD_DATA_DIR: '/e' }, logger: log });
    assert.equal(c.name, 'kv-name');
    assert.equal(c.dataDir, '/e');
    assert.ok(log.lines.includes('I recognized and used environment variable ETCD_DATA_DIR=/e'));
    assert.ok(log.lines.some((l) => l.startsWith('W environment variable ETCD_NAME is shadowed by KV_NAME')));
  });

  test('flags win over the environment, with a warning', () => {
    const log = recorder();
    const c = loadConfig({ argv: ['--name', 'flag'], env: { KV_NAME: 'env', ETCD_NAME: 'env2' }, logger: log });
    assert.equal(c.name, 'flag');
    assert.equal(c.sources.name, 'flag');
    assert.ok(log.lines.some((l) => l.includes('"KV_NAME" is shadowed by corresponding command-line flag --name')));
  });

  test('unknown ETCD_* and KV_* variables are warned about; ETCDCTL_* is not', () => {
    const log = recorder();
    loadConfig({ argv: [], env: { ETCD_FOO: '1', KV_BAR: '2', ETCDCTL_API: '2' }, logger: log });
    assert.ok(log.lines.includes('W unrecognized environment variable ETCD_FOO=1'));
    assert.ok(log.lines.includes('W unrecognized environment variable KV_BAR=2'));
    assert.ok(!log.lines.some((l) => l.includes('ETCDCTL_API')));
  });

  test('the peer secret is never logged', () => {
    const log = recorder();
    const c = loadConfig({ argv: [], env: { KV_PEER_SECRET: 'hunter2' }, logger: log });
    assert.equal(c.peerSecret, 'hunter2');
    assert.ok(!log.lines.some((l) => l.includes('hunter2')));
  });

  test('empty variables are ignored', () => {
    assert.equal(load([], { ETCD_NAME: '' }).name, 'default');
  });

  test('a bad value names the variable and the flag', () => {
    throwsConfig(() => load([], { ETCD_HEARTBEAT_INTERVAL: 'fast' }), /--heartbeat-interval \(from environment variable ETCD_HEARTBEAT_INTERVAL\)/, 'heartbeat-interval');
  });
});

describe('config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvd-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test("etcd's key names, read from disk", () => {
    const p = file(
      'conf.yml',
      [
        'name: infra1',
        'data-dir: /var/lib/kv/infra1',
        'listen-peer-urls: http://10.0.1.11:2380',
        'initial-advertise-peer-urls: http://10.0.1.11:2380',
        'listen-client-urls: http://10.0.1.11:2379,http://127.0.0.1:2379',
        'advertise-client-urls: http://10.0.1.11:2379',
        'initial-cluster: infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380',
        'initial-cluster-state: existing',
        'initial-cluster-token: tok-1',
        'heartbeat-interval: 250',
        'election-timeout: 2500',
        'snapshot-count: 20000',
        '',
      ].join('\n'),
    );
    const log = recorder();
    const c = loadConfig({ argv: [`--config-file=${p}`], env: {}, logger: log });
    assert.equal(c.configFile, p);
    assert.equal(c.name, 'infra1');
    assert.equal(c.dataDir, '/var/lib/kv/infra1');
    assert.deepEqual(c.listenClientUrls, ['http://10.0.1.11:2379', 'http://127.0.0.1:2379']);
    assert.equal(c.initialCluster, 'infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380');
    assert.equal(c.initialClusterState, 'existing');
    assert.equal(c.initialClusterToken, 'tok-1');
    assert.equal(c.heartbeatInterval, 250);
    assert.equal(c.electionTimeout, 2500);
    assert.equal(c.snapshotCount, 20000);
    assert.equal(c.sources.name, 'file');
    assert.ok(log.lines.includes(`I Loading server configuration from ${JSON.stringify(p)}`));
  });

  test('precedence: flags > env > file > defaults', () => {
    const p = file('prec.yml', 'name: from-file\ndata-dir: /file\nsnapshot-count: 7\nheartbeat-interval: 10\n');
    const c = load(['--config-file', p, '--name', 'from-flag'], { KV_DATA_DIR: '/env', ETCD_SNAPSHOT_COUNT: '8' });
    assert.equal(c.name, 'from-flag');
    assert.equal(c.dataDir, '/env');
    assert.equal(c.snapshotCount, 8);
    assert.equal(c.heartbeatInterval, 10);
    assert.equal(c.electionTimeout, 1000);
    assert.deepEqual(
      [c.sources.name, c.sources['data-dir'], c.sources['snapshot-count'], c.sources['heartbeat-interval'], c.sources['election-timeout']],
      ['flag', 'env', 'env', 'file', 'default'],
    );
  });

  test('the config file may be named by KV_CONFIG_FILE / ETCD_CONFIG_FILE', () => {
    const p = file('env.yml', 'name: via-env\n');
    assert.equal(load([], { ETCD_CONFIG_FILE: p }).name, 'via-env');
    assert.equal(load([], { KV_CONFIG_FILE: p }).name, 'via-env');
  });

  test('YAML lists, empty values and unknown keys (etcd ignores them; kvd warns)', () => {
    const p = file('misc.yml', 'name: n\nlisten-client-urls:\n  - http://127.0.0.1:2379\n  - http://127.0.0.1:12379\ndiscovery-proxy:\nenable-v2: true\n');
    const log = recorder();
    const c = loadConfig({ argv: ['--config-file', p], env: {}, logger: log });
    assert.deepEqual(c.listenClientUrls, ['http://127.0.0.1:2379', 'http://127.0.0.1:12379']);
    assert.ok(log.lines.some((l) => l.includes('unrecognized key "enable-v2"')));
    assert.ok(!log.lines.some((l) => l.includes('discovery-proxy')));
  });

  test('a set discovery-proxy is warned about and ignored', () => {
    const p = file('proxy.yml', 'name: n\ndiscovery-proxy: http://192.168.59.241:8888\ndiscovery: https://discovery.etcd.io/x\n');
    const log = recorder();
    const c = loadConfig({ argv: ['--config-file', p], env: {}, logger: log });
    assert.equal(c.discovery, 'https://discovery.etcd.io/x');
    assert.ok(log.lines.some((l) => l.includes('--discovery-proxy is not supported')));
  });

  test('errors: missing file, bad YAML, not a mapping, bad value in the file', () => {
    throwsConfig(() => load(['--config-file', join(dir, 'nope.yml')]), /cannot read config file .*nope\.yml \(--config-file\)/, 'config-file');
    throwsConfig(() => load(['--config-file', file('bad.yml', 'name: [unclosed\n')]), /not valid YAML/, 'config-file');
    throwsConfig(() => load(['--config-file', file('list.yml', '- a\n- b\n')]), /must be a YAML mapping/, 'config-file');
    throwsConfig(
      () => load(['--config-file', file('badnum.yml', 'heartbeat-interval: soon\n')]),
      /invalid value "soon" for flag --heartbeat-interval \(from "heartbeat-interval" in config file/,
      'heartbeat-interval',
    );
    throwsConfig(() => load(['--config-file', file('obj.yml', 'name:\n  a: 1\n')]), /invalid value for "name"/, 'name');
  });

  test('an injected readFile', () => {
    const c = load(['--config-file', '/etc/kv/x.yml'], {}, (path) => {
      assert.equal(path, '/etc/kv/x.yml');
      return 'name: injected\n';
    });
    assert.equal(c.name, 'injected');
  });
});

describe('errors', () => {
  test('an unknown flag, in etcd words, listing the known ones', () => {
    throwsConfig(() => load(['--nmae', 'x']), /^flag provided but not defined: -nmae \(kvd knows: --name --data-dir/, 'nmae');
    throwsConfig(() => load(['-foo=1']), /flag provided but not defined: -foo/);
  });

  test('a missing argument', () => {
    throwsConfig(() => load(['--name']), /flag needs an argument: --name/, 'name');
  });

  test('a stray argument', () => {
    throwsConfig(() => load(['--name', 'a', 'b']), /'b' is not a valid flag/);
    throwsConfig(() => load(['---name', 'a']), /bad flag syntax/);
  });

  test('bad numbers', () => {
    throwsConfig(() => load(['--heartbeat-interval', 'abc']), /invalid value "abc" for flag --heartbeat-interval: not a non-negative integer/, 'heartbeat-interval');
    throwsConfig(() => load(['--snapshot-count=-5']), /--snapshot-count/, 'snapshot-count');
    throwsConfig(() => load(['--election-timeout', '0']), /--election-timeout.*at least 1/, 'election-timeout');
    throwsConfig(() => load(['--snapshot-count', '1.5']), /--snapshot-count/, 'snapshot-count');
  });

  test('election timeout under 5 × heartbeat, or too long', () => {
    throwsConfig(
      () => load(['--heartbeat-interval', '300', '--election-timeout', '1000']),
      /--election-timeout\[1000ms\] should be at least as 5 times as --heartbeat-interval\[300ms\]/,
      'election-timeout',
    );
    assert.equal(load(['--heartbeat-interval', '200', '--election-timeout', '1000']).electionTimeout, 1000);
    throwsConfig(() => load(['--election-timeout', '60000']), /too long/, 'election-timeout');
  });

  test('malformed URLs', () => {
    throwsConfig(() => load(['--listen-peer-urls', 'localhost:2380']), /--listen-peer-urls: URL scheme must be/, 'listen-peer-urls');
    throwsConfig(() => load(['--listen-client-urls', 'http://127.0.0.1']), /--listen-client-urls: URL address does not have the form "host:port"/, 'listen-client-urls');
    throwsConfig(() => load(['--advertise-client-urls', 'http://a:2379/v2']), /--advertise-client-urls: URL must not contain a path/, 'advertise-client-urls');
    throwsConfig(() => load(['--advertise-client-urls', 'ws://a:2379']), /URL scheme must be http, https/, 'advertise-client-urls');
    throwsConfig(() => load(['--initial-advertise-peer-urls', 'not a url']), /--initial-advertise-peer-urls: "not a url" is not a URL/);
    throwsConfig(() => load(['--initial-cluster', 'default=http//x:1']), /--initial-cluster: member default/, 'initial-cluster');
    throwsConfig(() => load(['--initial-cluster', 'http://x:2380']), /is not name=url/, 'initial-cluster');
    throwsConfig(() => load(['--discovery', 'discovery.etcd.io/abc']), /--discovery: not an http/, 'discovery');
    // The transport speaks WebSocket, so ws:// and wss:// peer URLs are fine too.
    assert.deepEqual(load(['--listen-peer-urls', 'ws://127.0.0.1:2380']).listenPeerUrls, ['ws://127.0.0.1:2380']);
  });

  test('initial-cluster without this member', () => {
    throwsConfig(() => load(['--name', 'm4', '--initial-cluster', 'm1=http://a:2380']), /couldn't find local name "m4" in the initial cluster configuration/, 'initial-cluster');
  });

  test('a bad initial-cluster-state', () => {
    throwsConfig(() => load(['--initial-cluster-state', 'old']), /invalid value "old" for flag --initial-cluster-state: valid values are "new" and "existing"/);
  });

  test('more than one way to bootstrap', () => {
    throwsConfig(
      () => load(['--initial-cluster', 'default=http://localhost:2380', '--discovery', 'https://discovery.etcd.io/x']),
      /multiple discovery or bootstrap flags are set/,
    );
    throwsConfig(() => load(['--discovery-srv', 'a.com', '--discovery', 'https://discovery.etcd.io/x']), /multiple discovery/);
  });

  test('TLS flags', () => {
    throwsConfig(() => load(['--peer-cert-file', '/c.pem']), /--peer-cert-file and --peer-key-file must be given together/, 'peer-key-file');
    throwsConfig(() => load(['--listen-peer-urls', 'https://127.0.0.1:2380']), /TLS key\/cert \(--peer-cert-file, --peer-key-file\) must be provided for peer url https:\/\/127\.0\.0\.1:2380/);
    throwsConfig(() => load(['--peer-client-cert-auth']), /--peer-client-cert-auth needs --peer-trusted-ca-file/);
    throwsConfig(() => load(['--name=']), /--name must not be empty/, 'name');
  });
});
