// kvd's client TLS settings (--cert-file --key-file --trusted-ca-file
// --client-cert-auth) as flags, KV_*/ETCD_* variables, flat YAML keys and
// etcd's nested client-transport-security / peer-transport-security
// sections; the checks etcd makes; what toNodeOptions hands serveHttp.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { KvdConfigError, loadConfig, toNodeOptions, usage, type KvdConfigLogger } from '../../src/index.ts';

function recorder(): KvdConfigLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`I ${m}`), warn: (m) => lines.push(`W ${m}`) };
}

const yaml = (text: string) => (path: string): string => {
  assert.equal(path, '/etc/kv.yml');
  return text;
};

function throwsConfig(fn: () => unknown, re: RegExp, flag: string): void {
  assert.throws(fn, (e: unknown) => e instanceof KvdConfigError && re.test(e.message) && e.flag === flag);
}

describe('client TLS configuration', () => {
  test('flags, in every form, and their defaults', () => {
    const none = loadConfig({ argv: [], env: {} });
    assert.equal(none.certFile, undefined);
    assert.equal(none.clientCertAuth, false);
    const c = loadConfig({
      argv: ['-cert-file', '/s.crt', '--key-file=/s.key', '--trusted-ca-file', '/ca.crt', '--client-cert-auth', '--listen-client-urls', 'https://127.0.0.1:2379'],
      env: {},
    });
    assert.deepEqual([c.certFile, c.keyFile, c.trustedCaFile, c.clientCertAuth], ['/s.crt', '/s.key', '/ca.crt', true]);
    assert.deepEqual(c.listenClientUrls, ['https://127.0.0.1:2379']);
    assert.match(usage(), /--cert-file string\n\tPath to the client server TLS cert file\./);
    assert.match(usage(), /--client-cert-auth\n\tEnable client cert authentication\./);
    assert.match(usage(), /--version\n\tPrint the version and exit\./);
  });

  test('KV_* and ETCD_* variables', () => {
    const log = recorder();
    const c = loadConfig({ argv: [], env: { ETCD_CERT_FILE: '/e.crt', KV_KEY_FILE: '/k.key', ETCD_CLIENT_CERT_AUTH: 'true', ETCD_TRUSTED_CA_FILE: '/ca' }, logger: log });
    assert.deepEqual([c.certFile, c.keyFile, c.trustedCaFile, c.clientCertAuth], ['/e.crt', '/k.key', '/ca', true]);
    assert.ok(log.lines.includes('I recognized and used environment variable ETCD_CERT_FILE=/e.crt'), log.lines.join('\n'));
    assert.equal(c.sources['cert-file'], 'env');
  });

  test("etcd's nested client-transport-security and peer-transport-security sections; flat keys win", () => {
    const log = recorder();
    const c = loadConfig({
      argv: ['--config-file', '/etc/kv.yml'],
      env: {},
      logger: log,
      readFile: yaml(
        [
          'listen-client-urls: https://127.0.0.1:2379',
          'client-transport-security:',
          '  cert-file: /nested.crt',
          '  key-file: /nested.key',
          '  trusted-ca-file: /nested-ca.crt',
          '  client-cert-auth: true',
          '  auto-tls: true',
          'peer-transport-security:',
          '  cert-file: /peer.crt',
          '  key-file: /peer.key',
          '  client-cert-auth: false',
          'key-file: /flat.key',
        ].join('\n'),
      ),
    });
    assert.deepEqual([c.certFile, c.keyFile, c.trustedCaFile, c.clientCertAuth], ['/nested.crt', '/flat.key', '/nested-ca.crt', true]);
    assert.deepEqual([c.peerCertFile, c.peerKeyFile, c.peerClientCertAuth], ['/peer.crt', '/peer.key', false]);
    assert.ok(log.lines.includes('W "client-transport-security.auto-tls" in config file /etc/kv.yml is not supported by kvd; ignored'), log.lines.join('\n'));
    assert.equal(c.sources['cert-file'], 'file');
    throwsConfig(
      () => loadConfig({ argv: ['--config-file', '/etc/kv.yml'], env: {}, readFile: yaml('client-transport-security: yes-please') }),
      /invalid value for "client-transport-security" in config file \/etc\/kv\.yml: expected a mapping/,
      'client-transport-security',
    );
  });

  test('the checks etcd makes, naming the flag', () => {
    throwsConfig(() => loadConfig({ argv: ['--listen-client-urls', 'https://127.0.0.1:2379'], env: {} }), /TLS key\/cert \(--cert-file, --key-file\) must be provided for client url https:\/\/127\.0\.0\.1:2379/, 'cert-file');
    throwsConfig(() => loadConfig({ argv: ['--cert-file', '/c'], env: {} }), /--cert-file and --key-file must be given together/, 'key-file');
    throwsConfig(() => loadConfig({ argv: ['--key-file', '/k'], env: {} }), /--cert-file and --key-file must be given together/, 'cert-file');
    throwsConfig(() => loadConfig({ argv: ['--cert-file', '/c', '--key-file', '/k', '--client-cert-auth'], env: {} }), /--client-cert-auth needs --trusted-ca-file/, 'trusted-ca-file');
    throwsConfig(() => loadConfig({ argv: ['--client-cert-auth=maybe'], env: {} }), /invalid value "maybe" for flag --client-cert-auth: not a boolean/, 'client-cert-auth');
  });

  test('toNodeOptions reads the files into serveHttp\'s tls option, only when configured', () => {
    const read: string[] = [];
    const readFile = (p: string): string => {
      read.push(p);
      return `PEM of ${p}`;
    };
    const plain = toNodeOptions(loadConfig({ argv: [], env: {} }), readFile);
    assert.equal(plain.http.tls, undefined);
    assert.deepEqual(read, []);
    const o = toNodeOptions(
      loadConfig({ argv: ['--cert-file', '/s.crt', '--key-file', '/s.key', '--trusted-ca-file', '/ca.crt', '--client-cert-auth', '--listen-client-urls', 'https://127.0.0.1:2379'], env: {} }),
      readFile,
    );
    assert.deepEqual(o.http, {
      listen: ['https://127.0.0.1:2379'],
      advertise: ['http://localhost:2379'],
      tls: { cert: 'PEM of /s.crt', key: 'PEM of /s.key', ca: 'PEM of /ca.crt', clientCertAuth: true },
    });
    assert.equal(o.transport.tls, undefined);
    assert.throws(() => toNodeOptions(loadConfig({ argv: ['--cert-file', '/c', '--key-file', '/k'], env: {} })), /--cert-file needs a readFile/);
  });
});
