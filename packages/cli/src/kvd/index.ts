/**
 * `kvd`'s configuration: {@link loadConfig} reads flags, environment and a
 * YAML config file like etcd; {@link toNodeOptions} maps the result to
 * `createNode`, `wsTransport` and HTTP options.
 *
 * @module
 */
export { KVD_FLAGS, KvdConfigError, loadConfig, usage, type KvdConfig, type KvdConfigLogger, type KvdConfigSource, type LoadConfigOptions, type FlagSpec } from './config.js';
export { toNodeOptions, type KvdPeerTlsOptions, type KvdClientTlsOptions, type KvdStartOptions, type KvdTransportOptions, type ReadCertFile } from './to-options.js';
export { startKvd, etcdStyleLogger, type Kvd } from './run.js';
export { kvdVersion, versionText, type KvdVersionInfo } from './version.js';
