/**
 * `kvd`'s configuration, read like etcd's: command-line flags (`--name x`,
 * `--name=x`, and Go's single-dash `-name x`), `KV_*` environment variables
 * (and `ETCD_*`, so the seeds' unit files and cloud-configs work unchanged),
 * and a YAML `--config-file` with etcd's key names.
 *
 * Precedence: flags > `KV_*` > `ETCD_*` > config file > defaults. (etcd
 * itself ignores flags and environment when `--config-file` is given; kvd
 * layers them instead, so a file can be overridden per start.)
 *
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** Where `loadConfig` reports what it recognized (etcd's startup lines). */
export interface KvdConfigLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

/** Where a setting came from. */
export type KvdConfigSource = 'flag' | 'env' | 'file' | 'default';

/** The resolved configuration of one `kvd` member. */
export interface KvdConfig {
  /** `--name` @defaultValue `'default'` */
  name: string;
  /** `--data-dir` @defaultValue `<name>.kv` */
  dataDir: string;
  /** `--listen-peer-urls` @defaultValue `['http://localhost:2380']` */
  listenPeerUrls: string[];
  /** `--initial-advertise-peer-urls` @defaultValue `['http://localhost:2380']` */
  initialAdvertisePeerUrls: string[];
  /** `--listen-client-urls` @defaultValue `['http://localhost:2379']` */
  listenClientUrls: string[];
  /** `--advertise-client-urls` @defaultValue `['http://localhost:2379']` */
  advertiseClientUrls: string[];
  /**
   * `--initial-cluster` (`name=url,...`). Defaults to
   * `<name>=<each initial-advertise-peer-url>`; `undefined` when the cluster
   * is bootstrapped through `discovery` or `discoverySrv`.
   */
  initialCluster: string | undefined;
  /** `--initial-cluster-state` @defaultValue `'new'` */
  initialClusterState: 'new' | 'existing';
  /** `--initial-cluster-token` @defaultValue `'etcd-cluster'` */
  initialClusterToken: string;
  /** `--discovery`: a discovery URL. */
  discovery: string | undefined;
  /** `--discovery-srv`: a DNS domain. */
  discoverySrv: string | undefined;
  /** `--dns-servers` (kv only): DNS servers for `discoverySrv`, `host` or `host:port`. */
  dnsServers: string[] | undefined;
  /** `--heartbeat-interval` in ms @defaultValue 100 */
  heartbeatInterval: number;
  /** `--election-timeout` in ms @defaultValue 1000 */
  electionTimeout: number;
  /** `--snapshot-count` @defaultValue 100000 */
  snapshotCount: number;
  /** `--peer-secret` (kv only): the peer transport's shared secret. */
  peerSecret: string | undefined;
  /** `--peer-cert-file` */
  peerCertFile: string | undefined;
  /** `--peer-key-file` */
  peerKeyFile: string | undefined;
  /** `--peer-trusted-ca-file` */
  peerTrustedCaFile: string | undefined;
  /** `--peer-client-cert-auth` @defaultValue false */
  peerClientCertAuth: boolean;
  /** `--cert-file`: the client server's TLS certificate (for `https://` client URLs). */
  certFile: string | undefined;
  /** `--key-file`: the client server's TLS key. */
  keyFile: string | undefined;
  /** `--trusted-ca-file`: the CA that client certificates must chain to. */
  trustedCaFile: string | undefined;
  /** `--client-cert-auth`: refuse clients without a certificate from `trustedCaFile`. @defaultValue false */
  clientCertAuth: boolean;
  /** `--config-file`, when one was read. */
  configFile: string | undefined;
  /**
   * `--experimental-fault-injection` (kv only): serve `/debug/faults`, the
   * transport's fault-injection hook, on the client URLs. For fault tests.
   * @defaultValue false
   */
  experimentalFaultInjection: boolean;
  /** Where each setting (by flag name, e.g. `'initial-cluster'`) came from. */
  sources: Record<string, KvdConfigSource>;
}

/** Arguments of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The command-line arguments after the program name (`process.argv.slice(2)`). */
  argv: readonly string[];
  /** The environment (`process.env`). */
  env: Readonly<Record<string, string | undefined>>;
  /** Reads the config file. @defaultValue `fs.readFileSync(path, 'utf8')` for a regular file of at most 1 MiB */
  readFile?: (path: string) => string;
  /** @defaultValue discards */
  logger?: KvdConfigLogger;
}

/** A configuration error; `flag` names the flag at fault when there is one. */
export class KvdConfigError extends Error {
  readonly flag: string | undefined;
  constructor(message: string, flag?: string) {
    super(message);
    this.name = 'KvdConfigError';
    this.flag = flag;
  }
}

type Kind = 'string' | 'int' | 'bool';

/** One flag kvd knows: its name, what it takes and what it means. */
export interface FlagSpec {
  readonly kind: 'string' | 'int' | 'bool';
  readonly usage: string;
  /** A secret: its value is never logged. */
  readonly secret?: boolean;
  /** Accepted (in a config file or as a flag) but not supported: warned about and ignored. */
  readonly ignored?: boolean;
}

/** Every flag `kvd` knows, by etcd's name, with its usage line. */
export const KVD_FLAGS: Readonly<Record<string, FlagSpec>> = Object.freeze({
  name: { kind: 'string', usage: 'Human-readable name for this member.' },
  'data-dir': { kind: 'string', usage: 'Path to the data directory (default "<name>.kv").' },
  'listen-peer-urls': { kind: 'string', usage: 'List of URLs to listen on for peer traffic.' },
  'initial-advertise-peer-urls': { kind: 'string', usage: "List of this member's peer URLs to advertise to the rest of the cluster." },
  'listen-client-urls': { kind: 'string', usage: 'List of URLs to listen on for client traffic.' },
  'advertise-client-urls': { kind: 'string', usage: "List of this member's client URLs to advertise to the public." },
  'initial-cluster': { kind: 'string', usage: 'Initial cluster configuration for bootstrapping (name=url,...).' },
  'initial-cluster-state': { kind: 'string', usage: 'Initial cluster state ("new" or "existing").' },
  'initial-cluster-token': { kind: 'string', usage: 'Initial cluster token for the cluster during bootstrap.' },
  discovery: { kind: 'string', usage: 'Discovery URL used to bootstrap the cluster.' },
  'discovery-srv': { kind: 'string', usage: 'DNS domain used to bootstrap the initial cluster.' },
  'discovery-proxy': { kind: 'string', usage: 'Not supported by kvd (accepted for etcd config files, ignored).', ignored: true },
  'dns-servers': { kind: 'string', usage: 'DNS servers for --discovery-srv (host or host:port, comma-separated; default the system\'s).' },
  'heartbeat-interval': { kind: 'int', usage: 'Time (in milliseconds) of a heartbeat interval.' },
  'election-timeout': { kind: 'int', usage: 'Time (in milliseconds) for an election to timeout.' },
  'snapshot-count': { kind: 'int', usage: 'Number of committed transactions to trigger a snapshot to disk.' },
  'peer-secret': { kind: 'string', usage: 'Shared secret every member proves in the peer handshake.', secret: true },
  'peer-cert-file': { kind: 'string', usage: 'Path to the peer server TLS cert file.' },
  'peer-key-file': { kind: 'string', usage: 'Path to the peer server TLS key file.' },
  'peer-trusted-ca-file': { kind: 'string', usage: 'Path to the peer server TLS trusted CA file.' },
  'peer-client-cert-auth': { kind: 'bool', usage: 'Enable peer client cert authentication.' },
  'cert-file': { kind: 'string', usage: 'Path to the client server TLS cert file.' },
  'key-file': { kind: 'string', usage: 'Path to the client server TLS key file.' },
  'trusted-ca-file': { kind: 'string', usage: 'Path to the client server TLS trusted CA cert file.' },
  'client-cert-auth': { kind: 'bool', usage: 'Enable client cert authentication.' },
  'config-file': { kind: 'string', usage: 'Path to the server configuration file (YAML, etcd key names).' },
  'experimental-fault-injection': {
    kind: 'bool',
    usage: 'Serve PUT /debug/faults on the client URLs, which cuts this member off from chosen peers (kv only; for fault tests, never in production).',
  },
});

/** A usage text listing the flags, Go-flag style. */
export function usage(): string {
  const lines = ['Usage: kvd [flags]', ''];
  for (const [name, spec] of Object.entries(KVD_FLAGS)) {
    lines.push(`  --${name}${spec.kind === 'bool' ? '' : ` ${spec.kind === 'int' ? 'uint' : 'string'}`}`, `\t${spec.usage}`);
  }
  lines.push('  --version', '\tPrint the version and exit.');
  return lines.join('\n');
}

const DEFAULT_PEER_URL = 'http://localhost:2380';
const DEFAULT_CLIENT_URL = 'http://localhost:2379';
const MAX_ELECTION_MS = 50_000;

/** The env variable names of a flag, in precedence order. */
function envNames(flag: string): [string, string] {
  const suffix = flag.toUpperCase().replace(/-/g, '_');
  return [`KV_${suffix}`, `ETCD_${suffix}`];
}

interface Raw {
  value: string;
  source: KvdConfigSource;
  /** How to name where it came from in an error. */
  origin: string;
}

/** Splits the command line into flag values (Go's flag package rules). */
function parseArgv(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      if (i + 1 < argv.length) throw new KvdConfigError(`'${argv[i + 1]}' is not a valid flag`);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') throw new KvdConfigError(`'${arg}' is not a valid flag`);
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) throw new KvdConfigError(`bad flag syntax: ${arg}`);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = KVD_FLAGS[name];
    if (spec === undefined || !Object.hasOwn(KVD_FLAGS, name)) {
      throw new KvdConfigError(`flag provided but not defined: -${name} (kvd knows: ${Object.keys(KVD_FLAGS).map((f) => `--${f}`).join(' ')})`, name);
    }
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.kind === 'bool') value = 'true';
    else {
      if (i + 1 >= argv.length) throw new KvdConfigError(`flag needs an argument: --${name}`, name);
      value = argv[++i];
    }
    out.set(name, value);
  }
  return out;
}

/** Turns a YAML value into the string a flag would carry. */
function yamlValue(key: string, v: unknown, file: string): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',');
  throw new KvdConfigError(`invalid value for "${key}" in config file ${file}: expected a string, a number or a list of strings`, key);
}

/** A value quoted in an error, cut short: a 100 kB flag must not make a 100 kB log line. */
function quoted(v: string): string {
  return v.length > 200 ? `${JSON.stringify(v.slice(0, 200))}… (${v.length} characters)` : JSON.stringify(v);
}

/**
 * Config files are a few hundred bytes; the cap keeps a wrong path (a log,
 * a device) from costing memory, and the YAML parser's duplicate-key check
 * is quadratic in the number of keys.
 */
const MAX_CONFIG_BYTES = 1 << 20;

/** Reads a config file that is a regular file of at most {@link MAX_CONFIG_BYTES}: a FIFO would block forever, /dev/zero never end. */
function readRegularFile(path: string): string {
  const st = statSync(path);
  if (!st.isFile()) throw new Error('not a regular file');
  if (st.size > MAX_CONFIG_BYTES) throw new Error(`larger than ${MAX_CONFIG_BYTES} bytes`);
  return readFileSync(path, 'utf8');
}

function readConfigFile(path: string, readFile: (p: string) => string, logger: KvdConfigLogger): Map<string, string> {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw new KvdConfigError(`cannot read config file ${path} (--config-file): ${(e as Error).message}`, 'config-file');
  }
  if (text.length > MAX_CONFIG_BYTES) {
    throw new KvdConfigError(`config file ${path} is larger than ${MAX_CONFIG_BYTES} bytes (--config-file)`, 'config-file');
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    // The yaml package appends a code frame on further lines: one log line is
    // enough, with the position it names.
    const first = (e as Error).message.split('\n')[0];
    throw new KvdConfigError(`config file ${path} is not valid YAML: ${first}`, 'config-file');
  }
  const out = new Map<string, string>();
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new KvdConfigError(`config file ${path} must be a YAML mapping of etcd's key names (name: ..., data-dir: ...)`, 'config-file');
  }
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    if (Object.hasOwn(TLS_SECTIONS, key)) {
      readTlsSection(key, v, path, logger, out);
      continue;
    }
    if (!Object.hasOwn(KVD_FLAGS, key) || key === 'config-file') {
      logger.warn(`unrecognized key "${key}" in config file ${path} (ignored)`);
      continue;
    }
    const value = yamlValue(key, v, path);
    if (value !== undefined) out.set(key, value);
  }
  return out;
}

/**
 * etcd's config file nests TLS settings: `client-transport-security:` and
 * `peer-transport-security:`, each with `cert-file`, `key-file`,
 * `trusted-ca-file` and `client-cert-auth`. They map to the flat flags (the
 * peer ones with a `peer-` prefix); a flat key in the same file wins.
 */
const TLS_SECTIONS: Readonly<Record<string, string>> = Object.freeze({ 'client-transport-security': '', 'peer-transport-security': 'peer-' });
const TLS_KEYS = ['cert-file', 'key-file', 'trusted-ca-file', 'client-cert-auth'];

function readTlsSection(section: string, v: unknown, file: string, logger: KvdConfigLogger, out: Map<string, string>): void {
  if (v === null || v === undefined) return;
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new KvdConfigError(`invalid value for "${section}" in config file ${file}: expected a mapping (cert-file: ..., key-file: ...)`, section);
  }
  const prefix = TLS_SECTIONS[section]!;
  for (const [sub, x] of Object.entries(v as Record<string, unknown>)) {
    if (!TLS_KEYS.includes(sub)) {
      if (x !== null && x !== undefined && x !== '' && x !== false) logger.warn(`"${section}.${sub}" in config file ${file} is not supported by kvd; ignored`);
      continue;
    }
    const flag = prefix + sub;
    const value = yamlValue(`${section}.${sub}`, x, file);
    if (value !== undefined && !out.has(flag)) out.set(flag, value);
  }
}

function describe(raw: Raw): string {
  return raw.source === 'flag' ? `--${raw.origin}` : raw.origin;
}

function invalid(flag: string, raw: Raw, reason: string): KvdConfigError {
  const where = raw.source === 'flag' ? '' : ` (from ${describe(raw)})`;
  return new KvdConfigError(`invalid value ${quoted(raw.value)} for flag --${flag}${where}: ${reason}`, flag);
}

function parseInt10(flag: string, raw: Raw, min: number): number {
  const s = raw.value.trim();
  if (!/^\d+$/.test(s)) throw invalid(flag, raw, 'not a non-negative integer');
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw invalid(flag, raw, 'too large');
  if (n < min) throw invalid(flag, raw, `must be at least ${min}`);
  return n;
}

function parseBool(flag: string, raw: Raw): boolean {
  const s = raw.value.trim().toLowerCase();
  if (['1', 't', 'true'].includes(s)) return true;
  if (['0', 'f', 'false', ''].includes(s)) return false;
  throw invalid(flag, raw, 'not a boolean (true or false)');
}

const PEER_SCHEMES = ['http:', 'https:', 'ws:', 'wss:'];
const CLIENT_SCHEMES = ['http:', 'https:'];

/** Checks one URL as etcd's `types.NewURLs` does; returns the reason it is bad, or undefined. */
function urlProblem(u: string, schemes: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return `${quoted(u)} is not a URL`;
  }
  if (!schemes.includes(url.protocol)) return `URL scheme must be ${schemes.map((s) => s.slice(0, -1)).join(', ')}: ${u}`;
  if (url.hostname === '' || !/:\d+$/.test(url.host)) return `URL address does not have the form "host:port": ${u}`;
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') return `URL must not contain a path: ${u}`;
  return undefined;
}

function parseUrls(flag: string, raw: Raw, schemes: readonly string[]): string[] {
  const urls = raw.value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (urls.length === 0) throw invalid(flag, raw, 'no URLs');
  for (const u of urls) {
    const problem = urlProblem(u, schemes);
    if (problem !== undefined) throw invalid(flag, raw, problem);
  }
  return urls;
}

/** Checks `name=url,...` and returns the member names with their URLs. */
function parseCluster(flag: string, raw: Raw): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of raw.value.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw invalid(flag, raw, `${quoted(p)} is not name=url`);
    const name = p.slice(0, eq).trim();
    const url = p.slice(eq + 1).trim();
    const problem = urlProblem(url, PEER_SCHEMES);
    if (problem !== undefined) throw invalid(flag, raw, `member ${name}: ${problem}`);
    out.set(name, [...(out.get(name) ?? []), url]);
  }
  if (out.size === 0) throw invalid(flag, raw, 'no members');
  return out;
}

/**
 * Reads kvd's configuration from the command line, the environment and an
 * optional YAML config file, applies etcd's defaults and checks it.
 *
 * @throws KvdConfigError naming the flag at fault: an unknown flag
 * (`flag provided but not defined: -foo`), a missing argument, a bad number,
 * a malformed URL, `--election-timeout` under 5 × `--heartbeat-interval`,
 * conflicting bootstrap flags, a config file that cannot be read or parsed.
 */
export function loadConfig(options: LoadConfigOptions): KvdConfig {
  const logger = options.logger ?? { info() {}, warn() {} };
  const env = options.env;
  const flags = parseArgv(options.argv);

  // Environment: KV_* over ETCD_*; report what was used, shadowed or unknown.
  const fromEnv = new Map<string, Raw>();
  const knownEnv = new Set<string>();
  for (const [flag, spec] of Object.entries(KVD_FLAGS)) {
    const names = envNames(flag);
    for (const n of names) knownEnv.add(n);
    const present = names.filter((n) => env[n] !== undefined && env[n] !== '');
    if (present.length === 0) continue;
    const [winner, ...losers] = present;
    const value = env[winner] as string;
    const shown = spec.secret ? '<redacted>' : value;
    if (flags.has(flag)) {
      for (const n of present) logger.warn(`conflicting environment variable ${JSON.stringify(n)} is shadowed by corresponding command-line flag --${flag}`);
      continue;
    }
    for (const n of losers) logger.warn(`environment variable ${n} is shadowed by ${winner}`);
    logger.info(`recognized and used environment variable ${winner}=${shown}`);
    fromEnv.set(flag, { value, source: 'env', origin: `environment variable ${winner}` });
  }
  for (const [k, v] of Object.entries(env)) {
    if ((k.startsWith('ETCD_') || k.startsWith('KV_')) && !knownEnv.has(k) && v !== undefined) {
      logger.warn(`unrecognized environment variable ${k}=${v}`);
    }
  }

  // Config file: named by flag or environment.
  const configFileRaw: Raw | undefined = flags.has('config-file')
    ? { value: flags.get('config-file') as string, source: 'flag', origin: 'config-file' }
    : fromEnv.get('config-file');
  let fromFile = new Map<string, string>();
  let configFile: string | undefined;
  if (configFileRaw !== undefined) {
    configFile = configFileRaw.value;
    if (configFile === '') throw new KvdConfigError('--config-file: empty path', 'config-file');
    logger.info(`Loading server configuration from ${JSON.stringify(configFile)}`);
    fromFile = readConfigFile(configFile, options.readFile ?? readRegularFile, logger);
  }

  const sources: Record<string, KvdConfigSource> = { 'config-file': configFileRaw?.source ?? 'default' };
  const get = (flag: string): Raw | undefined => {
    let raw: Raw | undefined;
    if (flags.has(flag)) raw = { value: flags.get(flag) as string, source: 'flag', origin: flag };
    else if (fromEnv.has(flag)) raw = fromEnv.get(flag);
    else if (fromFile.has(flag)) raw = { value: fromFile.get(flag) as string, source: 'file', origin: `"${flag}" in config file ${configFile}` };
    sources[flag] = raw?.source ?? 'default';
    return raw;
  };
  const dflt = (value: string): Raw => ({ value, source: 'default', origin: 'the default' });
  const optString = (flag: string): string | undefined => {
    const raw = get(flag);
    return raw === undefined || raw.value.trim() === '' ? undefined : raw.value.trim();
  };

  for (const [flag, spec] of Object.entries(KVD_FLAGS)) {
    if (spec.ignored && (flags.has(flag) || fromEnv.has(flag) || (fromFile.get(flag) ?? '') !== '')) {
      logger.warn(`--${flag} is not supported by kvd; ignored`);
    }
  }

  const nameRaw = get('name');
  const name = nameRaw?.value.trim() ?? 'default';
  if (name === '') throw new KvdConfigError('--name must not be empty', 'name');

  let dataDir = optString('data-dir');
  if (dataDir === undefined) {
    dataDir = `${name}.kv`;
    logger.warn(`no data-dir provided, using default data-dir ./${dataDir}`);
  }

  const listenPeerUrls = parseUrls('listen-peer-urls', get('listen-peer-urls') ?? dflt(DEFAULT_PEER_URL), PEER_SCHEMES);
  const initialAdvertisePeerUrls = parseUrls(
    'initial-advertise-peer-urls',
    get('initial-advertise-peer-urls') ?? dflt(DEFAULT_PEER_URL),
    PEER_SCHEMES,
  );
  const listenClientUrls = parseUrls('listen-client-urls', get('listen-client-urls') ?? dflt(DEFAULT_CLIENT_URL), CLIENT_SCHEMES);
  const advertiseClientUrls = parseUrls('advertise-client-urls', get('advertise-client-urls') ?? dflt(DEFAULT_CLIENT_URL), CLIENT_SCHEMES);

  const stateRaw = get('initial-cluster-state');
  const state = stateRaw?.value.trim() ?? 'new';
  if (stateRaw !== undefined && state !== 'new' && state !== 'existing') {
    throw invalid('initial-cluster-state', stateRaw, 'valid values are "new" and "existing"');
  }
  const initialClusterToken = get('initial-cluster-token')?.value.trim() || 'etcd-cluster';

  const discoveryRaw = get('discovery');
  let discovery: string | undefined;
  if (discoveryRaw !== undefined && discoveryRaw.value.trim() !== '') {
    discovery = discoveryRaw.value.trim();
    let ok = false;
    try {
      const u = new URL(discovery);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      ok = false;
    }
    if (!ok) throw invalid('discovery', discoveryRaw, 'not an http:// or https:// URL');
  }
  const discoverySrv = optString('discovery-srv');
  if (discoverySrv !== undefined && !/^[A-Za-z0-9_.-]+$/.test(discoverySrv)) {
    throw new KvdConfigError(`invalid value ${quoted(discoverySrv)} for flag --discovery-srv: not a DNS domain`, 'discovery-srv');
  }
  const dnsRaw = optString('dns-servers');
  const dnsServers = dnsRaw?.split(',').map((s) => s.trim()).filter((s) => s !== '');

  const clusterRaw = get('initial-cluster');
  const explicitCluster = clusterRaw !== undefined && clusterRaw.value.trim() !== '';
  const bootstraps = [explicitCluster, discovery !== undefined, discoverySrv !== undefined].filter(Boolean).length;
  if (bootstraps > 1) {
    throw new KvdConfigError(
      'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"',
      explicitCluster ? 'initial-cluster' : 'discovery',
    );
  }
  let initialCluster: string | undefined;
  if (explicitCluster) {
    const members = parseCluster('initial-cluster', clusterRaw);
    if (!members.has(name)) {
      throw new KvdConfigError(
        `couldn't find local name ${JSON.stringify(name)} in the initial cluster configuration (--initial-cluster ${clusterRaw.value}; check --name)`,
        'initial-cluster',
      );
    }
    initialCluster = clusterRaw.value.trim();
  } else if (discovery === undefined && discoverySrv === undefined) {
    initialCluster = initialAdvertisePeerUrls.map((u) => `${name}=${u}`).join(',');
  }

  const hbRaw = get('heartbeat-interval');
  const heartbeatInterval = hbRaw === undefined ? 100 : parseInt10('heartbeat-interval', hbRaw, 1);
  const etRaw = get('election-timeout');
  const electionTimeout = etRaw === undefined ? 1000 : parseInt10('election-timeout', etRaw, 1);
  const scRaw = get('snapshot-count');
  const snapshotCount = scRaw === undefined ? 100_000 : parseInt10('snapshot-count', scRaw, 1);
  if (electionTimeout < 5 * heartbeatInterval) {
    throw new KvdConfigError(
      `--election-timeout[${electionTimeout}ms] should be at least as 5 times as --heartbeat-interval[${heartbeatInterval}ms]`,
      'election-timeout',
    );
  }
  if (electionTimeout > MAX_ELECTION_MS) {
    throw new KvdConfigError(`--election-timeout[${electionTimeout}ms] is too long, and should be set less than ${MAX_ELECTION_MS}ms`, 'election-timeout');
  }

  const peerSecretRaw = get('peer-secret');
  const peerSecret = peerSecretRaw === undefined || peerSecretRaw.value === '' ? undefined : peerSecretRaw.value;
  /** One set of TLS flags (`prefix` '' for clients, 'peer-' for peers), checked as etcd checks them. */
  const tlsFlags = (prefix: '' | 'peer-', urls: readonly string[], side: 'client' | 'peer') => {
    const cert = optString(`${prefix}cert-file`);
    const key = optString(`${prefix}key-file`);
    const ca = optString(`${prefix}trusted-ca-file`);
    const authRaw = get(`${prefix}client-cert-auth`);
    const clientCertAuth = authRaw === undefined ? false : parseBool(`${prefix}client-cert-auth`, authRaw);
    if ((cert === undefined) !== (key === undefined)) {
      throw new KvdConfigError(`--${prefix}cert-file and --${prefix}key-file must be given together`, `${prefix}${cert === undefined ? 'cert' : 'key'}-file`);
    }
    const secure = urls.find((u) => u.startsWith('https:') || u.startsWith('wss:'));
    if (secure !== undefined && cert === undefined) {
      throw new KvdConfigError(`TLS key/cert (--${prefix}cert-file, --${prefix}key-file) must be provided for ${side} url ${secure}`, `${prefix}cert-file`);
    }
    if (clientCertAuth && ca === undefined) {
      throw new KvdConfigError(`--${prefix}client-cert-auth needs --${prefix}trusted-ca-file`, `${prefix}trusted-ca-file`);
    }
    return { cert, key, ca, clientCertAuth };
  };
  const faultRaw = get('experimental-fault-injection');
  const experimentalFaultInjection = faultRaw === undefined ? false : parseBool('experimental-fault-injection', faultRaw);
  const peerTls = tlsFlags('peer-', listenPeerUrls, 'peer');
  const clientTls = tlsFlags('', listenClientUrls, 'client');

  return {
    name,
    dataDir,
    listenPeerUrls,
    initialAdvertisePeerUrls,
    listenClientUrls,
    advertiseClientUrls,
    initialCluster,
    initialClusterState: state as 'new' | 'existing',
    initialClusterToken,
    discovery,
    discoverySrv,
    dnsServers: dnsServers !== undefined && dnsServers.length > 0 ? dnsServers : undefined,
    heartbeatInterval,
    electionTimeout,
    snapshotCount,
    peerSecret,
    peerCertFile: peerTls.cert,
    peerKeyFile: peerTls.key,
    peerTrustedCaFile: peerTls.ca,
    peerClientCertAuth: peerTls.clientCertAuth,
    certFile: clientTls.cert,
    keyFile: clientTls.key,
    trustedCaFile: clientTls.ca,
    clientCertAuth: clientTls.clientCertAuth,
    configFile,
    experimentalFaultInjection,
    sources,
  };
}
