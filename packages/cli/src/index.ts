/**
 * @kv/cli — etcd v2-compatible HTTP client API (`serveHttp`), the `kvd`
 * daemon (`startKvd`, configured like etcd) and the `kvctl` command line
 * (`runKvctl`, etcdctl's commands and output).
 *
 * @packageDocumentation
 */

/** The package version, kept in step with package.json. */
export const VERSION = '0.1.0';

export {
  serveHttp,
  DEFAULT_MAX_BODY_BYTES,
  etcdNode,
  etcdEvent,
  etcdStatus,
  ETCD_SERVER_VERSION,
  ETCD_CLUSTER_VERSION,
  type ServeHttpOptions,
  type HttpServerHandle,
} from './http/index.js';
export type { ServeHttpTlsOptions } from './http/server.js';

export {
  startKvd,
  etcdStyleLogger,
  loadConfig,
  toNodeOptions,
  usage,
  KvdConfigError,
  KVD_FLAGS,
  type Kvd,
  type KvdConfig,
  type KvdStartOptions,
  type KvdConfigSource,
  type KvdTransportOptions,
  type KvdPeerTlsOptions,
  type KvdClientTlsOptions,
  kvdVersion,
  versionText,
  type KvdVersionInfo,
  type LoadConfigOptions,
  type ReadCertFile,
  type KvdConfigLogger,
  type FlagSpec,
} from './kvd/index.js';

export {
  runKvctl,
  KVCTL_USAGE,
  KVCTL_EXIT,
  KvctlExit,
  KvctlClient,
  EtcdApiError,
  ClusterUnavailableError,
  renderTable,
  humanBytes,
  type KvctlIo,
  type KvctlWritable,
  type KvctlOutput,
  type KvctlClientOptions,
  type KvctlTlsOptions,
  type KvctlRequestOptions,
  type HttpAnswer,
  type HttpStreamAnswer,
  type EtcdV2Node,
  type KeysResponse,
} from './kvctl/index.js';
