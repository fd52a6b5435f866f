/**
 * Turns a {@link KvdConfig} into what `kvd` starts: `createNode`'s options
 * (all but `transport`), `wsTransport`'s options and the client API's URLs.
 *
 * @module
 */
import type { CreateNodeOptions } from '@kv/store';

import type { KvdConfig } from './config.js';

/**
 * The `tls` option of `wsTransport` (structurally `WsTlsOptions` from
 * `@kv/transport-ws`).
 */
export interface KvdPeerTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  ca?: string | Buffer;
  clientCertAuth?: boolean;
}

/** The `tls` option of `serveHttp` (structurally `ServeHttpTlsOptions`; the same fields as the peer's). */
export type KvdClientTlsOptions = KvdPeerTlsOptions;

/** The options of `wsTransport` (a subset of `WsTransportOptions` from `@kv/transport-ws`). */
export interface KvdTransportOptions {
  /** The first `--listen-peer-urls` URL (the transport listens on one address). */
  listen: string;
  /** The first `--initial-advertise-peer-urls` URL. */
  advertise: string;
  tls?: KvdPeerTlsOptions;
  secret?: string;
}

/** What `kvd` starts, from {@link toNodeOptions}. */
export interface KvdStartOptions {
  /** `createNode`'s options; add `transport` (and a `logger`). */
  node: Omit<CreateNodeOptions, 'transport'>;
  /** `wsTransport`'s options; add `logger`. */
  transport: KvdTransportOptions;
  /**
   * The client API: where to listen (`--listen-client-urls`), what to
   * advertise, and TLS for `https://` URLs (`--cert-file`, `--key-file`,
   * `--trusted-ca-file`, `--client-cert-auth`; only when given).
   */
  http: { listen: string[]; advertise: string[]; tls?: KvdClientTlsOptions };
  /** Peer URLs after the first in `--listen-peer-urls`, which the transport does not listen on (for a warning). */
  unusedListenPeerUrls: string[];
}

/** Reads certificate files for {@link toNodeOptions}. */
export type ReadCertFile = (path: string) => string | Buffer;

/**
 * Maps a configuration to `createNode`, `wsTransport` and HTTP options.
 * Pure but for `readFile`, called only for the `--peer-*-file`,
 * `--cert-file`, `--key-file` and `--trusted-ca-file` flags given.
 *
 * - `initialCluster` is left out when bootstrapping through `discovery` or
 *   `discoverySrv`; `initialClusterToken` too with `discovery` when it is the
 *   default (so the discovery URL is the token, as in etcd).
 * - `dnsServers` only with `discoverySrv`.
 */
export function toNodeOptions(config: KvdConfig, readFile?: ReadCertFile): KvdStartOptions {
  const node: Omit<CreateNodeOptions, 'transport'> = {
    name: config.name,
    dataDir: config.dataDir,
    initialClusterState: config.initialClusterState,
    initialAdvertisePeerUrls: [...config.initialAdvertisePeerUrls],
    advertiseClientUrls: [...config.advertiseClientUrls],
    heartbeatIntervalMs: config.heartbeatInterval,
    electionTimeoutMs: config.electionTimeout,
    snapshotCount: config.snapshotCount,
  };
  if (config.initialCluster !== undefined && config.discovery === undefined && config.discoverySrv === undefined) {
    node.initialCluster = config.initialCluster;
  }
  if (config.discovery === undefined || config.sources['initial-cluster-token'] !== 'default') {
    node.initialClusterToken = config.initialClusterToken;
  }
  if (config.discovery !== undefined) node.discovery = config.discovery;
  if (config.discoverySrv !== undefined) {
    node.discoverySrv = config.discoverySrv;
    if (config.dnsServers !== undefined) node.dnsServers = [...config.dnsServers];
  }

  const transport: KvdTransportOptions = {
    listen: config.listenPeerUrls[0],
    advertise: config.initialAdvertisePeerUrls[0],
  };
  if (config.peerSecret !== undefined) transport.secret = config.peerSecret;
  if (config.peerCertFile !== undefined && config.peerKeyFile !== undefined) {
    transport.tls = readTls(
      { cert: config.peerCertFile, key: config.peerKeyFile, ca: config.peerTrustedCaFile, clientCertAuth: config.peerClientCertAuth, flag: '--peer-cert-file' },
      readFile,
    );
  }

  const http: KvdStartOptions['http'] = { listen: [...config.listenClientUrls], advertise: [...config.advertiseClientUrls] };
  if (config.certFile !== undefined && config.keyFile !== undefined) {
    http.tls = readTls(
      { cert: config.certFile, key: config.keyFile, ca: config.trustedCaFile, clientCertAuth: config.clientCertAuth, flag: '--cert-file' },
      readFile,
    );
  }

  return {
    node,
    transport,
    http,
    unusedListenPeerUrls: config.listenPeerUrls.slice(1),
  };
}

/** Reads one set of TLS files (peer or client) into PEM options. */
function readTls(
  files: { cert: string; key: string; ca: string | undefined; clientCertAuth: boolean; flag: string },
  readFile: ReadCertFile | undefined,
): KvdPeerTlsOptions {
  if (readFile === undefined) throw new Error(`toNodeOptions: ${files.flag} needs a readFile to read the certificates`);
  const tls: KvdPeerTlsOptions = { cert: readFile(files.cert), key: readFile(files.key) };
  if (files.ca !== undefined) tls.ca = readFile(files.ca);
  if (files.clientCertAuth) tls.clientCertAuth = true;
  return tls;
}
