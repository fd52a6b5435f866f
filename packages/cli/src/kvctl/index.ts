/**
 * kvctl: an etcdctl v2 look-alike over kv's etcd v2 HTTP API.
 *
 * @packageDocumentation
 */
export { runKvctl, KVCTL_USAGE } from './run.js';
export { KVCTL_EXIT, KvctlExit, type KvctlIo, type KvctlWritable, type KvctlOutput } from './io.js';
export { KvctlClient, EtcdApiError, ClusterUnavailableError, type KvctlClientOptions, type KvctlTlsOptions, type KvctlRequestOptions, type HttpAnswer, type HttpStreamAnswer, type EtcdV2Node, type KeysResponse } from './client.js';
export { renderTable, humanBytes } from './table.js';
