// Client TLS end to end: certificates made with openssl at test time, kvd
// processes serving https:// client URLs (flags in the environment for one,
// etcd's nested YAML with client-cert-auth for the other), kvctl processes
// with etcdctl v2's --ca-file/--cert-file/--key-file (and v3's names),
// --insecure-skip-tls-verify, and the real etcdctl when it is installed.
// Also `kvd --version`, and start-up refusals for bad TLS settings.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { serveOne } from '../http/helpers.ts';
import { Processes, onPath, memberPorts, waitUntil, type MemberPorts } from './processes.ts';

const P = new Processes();
after(() => P.cleanup());

/** A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`. */
function makeCerts(dir: string): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'otherCa' | 'elsewhereCert' | 'elsewhereKey', string> {
  const f = (n: string): string => join(dir, n);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    ssl('req', '-x509', ...ecKey, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.crt`), '-days', '2', '-subj', `/CN=kv test ${ca}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }
  const leaf = (name: string, ext: string): void => {
    writeFileSync(f(`${name}.ext`), ext);
    ssl('req', ...ecKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  leaf('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  leaf('elsewhere', 'subjectAltName=DNS:kv.example\nextendedKeyUsage=serverAuth\n');
  return {
    ca: f('ca.crt'),
    otherCa: f('other-ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    elsewhereCert: f('elsewhere.crt'),
    elsewhereKey: f('elsewhere.key'),
  };
}

function flags(m: MemberPorts, dataDir: string): string[] {
  return [
    '--name', m.name, '--data-dir', dataDir,
    '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
    '--initial-cluster', `${m.name}=http://127.0.0.1:${m.peer}`,
    '--listen-client-urls', `https://127.0.0.1:${m.client}`, '--advertise-client-urls', `https://127.0.0.1:${m.client}`,
  ];
}

const haveEtcdctl = await onPath('etcdctl');

async function etcdctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)('etcdctl', args, { env: { ...process.env, ETCDCTL_API: '2' }, timeout: 20_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

describe('kvd serving https:// client URLs', () => {
  const dir = P.tempDir('kv-tls-');
  let certs: ReturnType<typeof makeCerts>;
  let plainUrl: string;
  let mtlsUrl: string;

  before(async () => {
    certs = makeCerts(dir);
    const [a, b] = await memberPorts(['tls-a', 'tls-b']);
    // One with the TLS flags in the environment, as a unit file would set them.
    const kvdA = P.kvd(flags(a!, join(dir, 'a.kv')), { KV_CERT_FILE: certs.serverCert, ETCD_KEY_FILE: certs.serverKey });
    // One from etcd's YAML layout, requiring client certificates.
    const config = join(dir, 'b.yml');
    writeFileSync(config, ['client-transport-security:', `  cert-file: ${certs.serverCert}`, `  key-file: ${certs.serverKey}`, `  trusted-ca-file: ${certs.ca}`, '  client-cert-auth: true', ''].join('\n'));
    const kvdB = P.kvd([...flags(b!, join(dir, 'b.kv')), '--config-file', config]);
    plainUrl = `https://127.0.0.1:${a!.client}`;
    mtlsUrl = `https://127.0.0.1:${b!.client}`;
    await waitUntil(() => /ready to serve client requests on https:/.test(kvdA.log()), `kvd a: ${kvdA.log()}`);
    await waitUntil(() => /ready to serve client requests on https:/.test(kvdB.log()), `kvd b: ${kvdB.log()}`);
  });

  test('kvctl with --ca-file (or --cacert, or ETCDCTL_CA_FILE) talks to it; without the CA it fails as etcdctl does', { timeout: 60_000 }, async () => {
    const set = await P.kvctl(['--endpoints', plainUrl, '--ca-file', certs.ca, 'set', '/tls', 'secure']);
    assert.deepEqual(set, { code: 0, stdout: 'secure\n', stderr: '' });
    assert.deepEqual(await P.kvctl(['--endpoints', plainUrl, '--cacert', certs.ca, 'get', '/tls']), { code: 0, stdout: 'secure\n', stderr: '' });
    assert.deepEqual(await P.kvctl(['--endpoints', plainUrl, 'get', '/tls'], { ETCDCTL_CA_FILE: certs.ca }), { code: 0, stdout: 'secure\n', stderr: '' });
    const unknown = await P.kvctl(['--endpoints', plainUrl, 'get', '/tls']);
    assert.equal(unknown.code, 4);
    assert.equal(
      unknown.stderr,
      'Error:  client: etcd cluster is unavailable or misconfigured; error #0: x509: certificate signed by unknown authority\n\nerror #0: x509: certificate signed by unknown authority\n\n',
    );
    const wrongCa = await P.kvctl(['--endpoints', plainUrl, '--ca-file', certs.otherCa, 'get', '/tls']);
    assert.equal(wrongCa.code, 4);
    assert.match(wrongCa.stderr, /x509: certificate signed by unknown authority/);
    assert.deepEqual(await P.kvctl(['--endpoints', plainUrl, '--insecure-skip-tls-verify', 'get', '/tls']), { code: 0, stdout: 'secure\n', stderr: '' });
    const asHttp = await P.kvctl(['--endpoints', plainUrl.replace('https:', 'http:'), 'get', '/tls']);
    assert.equal(asHttp.code, 4);
    const missing = await P.kvctl(['--endpoints', plainUrl, '--ca-file', join(dir, 'nope.crt'), 'get', '/tls']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error:  --ca-file: cannot read .*nope\.crt: ENOENT/);
  });

  test('cluster-health, endpoint status and snapshot save go over TLS too', { timeout: 60_000 }, async () => {
    const health = await P.kvctl(['--endpoints', plainUrl, '--ca-file', certs.ca, 'cluster-health']);
    assert.equal(health.code, 0, health.stdout + health.stderr);
    assert.match(health.stdout, new RegExp(`is healthy: got healthy result from ${plainUrl}\\ncluster is healthy\\n$`));
    const status = await P.kvctl(['--endpoints', plainUrl, '--ca-file', certs.ca, '-w', 'json', 'endpoint', 'status']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { Endpoint: string }[])[0]!.Endpoint, plainUrl);
    const eh = await P.kvctl(['--endpoints', plainUrl, '--ca-file', certs.ca, 'endpoint', 'health']);
    assert.equal(eh.code, 0, eh.stderr);
    const file = join(dir, 'tls.snapshot');
    const saved = await P.kvctl(['--endpoints', plainUrl, '--ca-file', certs.ca, 'snapshot', 'save', file]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.equal(saved.stdout, `Snapshot saved at ${file}\n`);
  });

  test('with --client-cert-auth a client needs a certificate from the trusted CA (--cert-file/--key-file or --cert/--key)', { timeout: 60_000 }, async () => {
    const noCert = await P.kvctl(['--endpoints', mtlsUrl, '--ca-file', certs.ca, 'set', '/m', '1']);
    assert.equal(noCert.code, 4);
    assert.match(noCert.stderr, /error #0: (remote error: tls: certificate required|remote error: tls: bad certificate|read tcp 127\.0\.0\.1:\d+: read: connection reset by peer)/);
    const ok = await P.kvctl(['--endpoints', mtlsUrl, '--ca-file', certs.ca, '--cert-file', certs.clientCert, '--key-file', certs.clientKey, 'set', '/m', 'mutual']);
    assert.deepEqual(ok, { code: 0, stdout: 'mutual\n', stderr: '' });
    assert.deepEqual(await P.kvctl(['--endpoints', mtlsUrl, '--cacert', certs.ca, '--cert', certs.clientCert, '--key', certs.clientKey, 'get', '/m']), { code: 0, stdout: 'mutual\n', stderr: '' });
    assert.deepEqual(await P.kvctl(['--endpoints', mtlsUrl, '--ca-file', certs.ca, '--cert-file', certs.clientCert, 'get', '/m']), { code: 1, stdout: '', stderr: 'Error:  --cert-file needs --key-file\n' });
  });

  test('a certificate for other names fails with Go\'s x509 wording, as etcdctl\'s', { timeout: 60_000 }, async () => {
    const s = await serveOne({ listen: 'https://127.0.0.1:0', tls: { cert: readFileSync(certs.elsewhereCert), key: readFileSync(certs.elsewhereKey) } });
    try {
      const port = new URL(s.url).port;
      const byIp = await P.kvctl(['--endpoints', s.url, '--ca-file', certs.ca, 'get', '/k']);
      assert.equal(byIp.code, 4);
      assert.match(byIp.stderr, /error #0: x509: cannot validate certificate for 127\.0\.0\.1 because it doesn't contain any IP SANs\n/);
      const byName = await P.kvctl(['--endpoints', `https://localhost:${port}`, '--ca-file', certs.ca, 'get', '/k']);
      assert.equal(byName.code, 4);
      assert.match(byName.stderr, /error #0: x509: certificate is valid for kv\.example, not localhost\n/);
      if (haveEtcdctl) {
        for (const [ours, url] of [[byIp, s.url], [byName, `https://localhost:${port}`]] as const) {
          const theirs = await etcdctl(['--endpoints', url, '--ca-file', certs.ca, 'get', '/k']);
          assert.deepEqual(ours, theirs);
        }
      }
    } finally {
      await s.close();
    }
  });

  test('the real etcdctl works against it with the same flags', { skip: haveEtcdctl ? false : 'etcdctl not installed', timeout: 60_000 }, async () => {
    assert.deepEqual(await etcdctl(['--endpoints', plainUrl, '--ca-file', certs.ca, 'get', '/tls']), { code: 0, stdout: 'secure\n', stderr: '' });
    const r = await etcdctl(['--endpoints', mtlsUrl, '--ca-file', certs.ca, '--cert-file', certs.clientCert, '--key-file', certs.clientKey, 'get', '/m']);
    assert.deepEqual(r, { code: 0, stdout: 'mutual\n', stderr: '' });
    const theirs = await etcdctl(['--endpoints', plainUrl, 'get', '/tls']);
    const ours = await P.kvctl(['--endpoints', plainUrl, 'get', '/tls']);
    assert.equal(ours.code, theirs.code);
    assert.equal(ours.stderr, theirs.stderr.replace(/x509: certificate signed by unknown authority.*/g, 'x509: certificate signed by unknown authority'));
  });
});

describe('kvd start-up', () => {
  test('kvd --version prints etcd\'s lines with Node in place of Go, and exits 0', async () => {
    for (const flag of ['--version', '-version']) {
      const p = P.kvd([flag]);
      assert.equal(await p.exited, 0);
      await waitUntil(() => p.stdout().endsWith('\n'), 'the version text');
      assert.match(p.stdout(), /^kvd Version: \d+\.\d+\.\d+\nGit SHA: ([0-9a-f]{7}|Not provided \(not run from a git checkout of kv\))\nNode Version: v\d+\.\d+\.\d+\nNode OS\/Arch: \w+\/\w+\n$/);
      assert.equal(p.stderr(), '');
    }
  });

  test('refuses https:// client URLs without a certificate, and unreadable certificate files, with exit 1', async () => {
    const dir = P.tempDir('kv-tls-bad-');
    const [m] = await memberPorts(['bad']);
    const noCert = P.kvd(flags(m!, join(dir, 'x.kv')));
    assert.equal(await noCert.exited, 1);
    assert.match(noCert.log(), /E \| kvd: TLS key\/cert \(--cert-file, --key-file\) must be provided for client url https:\/\/127\.0\.0\.1:\d+/);
    const missing = P.kvd([...flags(m!, join(dir, 'y.kv')), '--cert-file', join(dir, 'nope.crt'), '--key-file', join(dir, 'nope.key')]);
    assert.equal(await missing.exited, 1);
    assert.match(missing.log(), /E \| kvd: ENOENT: no such file or directory, open '.*nope\.crt'/);
  });
});
