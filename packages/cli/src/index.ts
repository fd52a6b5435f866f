/**
 * @kv/cli — etcd v2-compatible HTTP client API (`serveHttp`) and the `kvd`
 * daemon (`startKvd`, configured like etcd); `kvctl` comes later.
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
  type HttpAnswer,
  type EtcdV2Node,
  type KeysResponse,
} from './kvctl/index.js';
