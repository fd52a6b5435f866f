/**
 * kvctl's auth and TLS flags, etcdctl v2's names with etcdctl v3's as
 * aliases: `--username user[:password]` (`--user`; the password from the
 * flag, `--password`, or `KVCTL_PASSWORD`), `--ca-file` (`--cacert`),
 * `--cert-file` (`--cert`), `--key-file` (`--key`),
 * `--insecure-skip-tls-verify`; and etcdctl v2's `ETCDCTL_USERNAME`,
 * `ETCDCTL_CA_FILE`, `ETCDCTL_CERT_FILE`, `ETCDCTL_KEY_FILE` variables.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import type { KvctlClientOptions, KvctlTlsOptions } from './client.js';
import { KVCTL_EXIT, KvctlExit } from './io.js';

/**
 * Builds the client's options from the global flags given (by the name
 * used on the command line) and the environment.
 *
 * @throws KvctlExit (exit 1) for a username without a password, a
 * certificate without its key, or a file that cannot be read.
 */
export function clientOptions(
  endpoints: readonly string[],
  flags: ReadonlyMap<string, string>,
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => Buffer = (p) => readFileSync(p),
): KvctlClientOptions {
  const pick = (names: readonly string[], envName: string): string | undefined => {
    for (const n of names) if (flags.has(n)) return flags.get(n);
    const v = env[envName];
    return v === undefined || v === '' ? undefined : v;
  };
  const bad = (msg: string): KvctlExit => new KvctlExit(KVCTL_EXIT.badArgs, `Error:  ${msg}\n`);
  const opts: { endpoints: readonly string[]; auth?: { username: string; password: string }; tls?: KvctlTlsOptions } = { endpoints };

  const userFlag = pick(['--username', '-u', '--user'], 'ETCDCTL_USERNAME');
  if (userFlag !== undefined) {
    const colon = userFlag.indexOf(':');
    const username = colon < 0 ? userFlag : userFlag.slice(0, colon);
    const password = colon >= 0 ? userFlag.slice(colon + 1) : (pick(['--password'], 'KVCTL_PASSWORD') ?? env.ETCDCTL_PASSWORD);
    if (username === '') throw bad('--username: empty user name');
    if (password === undefined) {
      throw bad(`no password for user ${username}: give --username ${username}:<password>, or set KVCTL_PASSWORD`);
    }
    opts.auth = { username, password };
  } else if (flags.has('--password')) {
    throw bad('--password needs --username');
  }

  const read = (path: string, flag: string): Buffer => {
    try {
      return readFile(path);
    } catch (e) {
      throw bad(`${flag}: cannot read ${path}: ${(e as Error).message}`);
    }
  };
  const ca = pick(['--ca-file', '--cacert'], 'ETCDCTL_CA_FILE');
  const cert = pick(['--cert-file', '--cert'], 'ETCDCTL_CERT_FILE');
  const key = pick(['--key-file', '--key'], 'ETCDCTL_KEY_FILE');
  const insecure = flags.has('--insecure-skip-tls-verify');
  if ((cert === undefined) !== (key === undefined)) {
    throw bad(cert === undefined ? '--key-file needs --cert-file' : '--cert-file needs --key-file');
  }
  if (ca !== undefined || cert !== undefined || insecure) {
    opts.tls = {
      ...(ca !== undefined ? { ca: read(ca, '--ca-file') } : {}),
      ...(cert !== undefined ? { cert: read(cert, '--cert-file') } : {}),
      ...(key !== undefined ? { key: read(key, '--key-file') } : {}),
      ...(insecure ? { insecureSkipVerify: true } : {}),
    };
  }
  return opts;
}
