/**
 * etcd v2's client HTTP API for a KvNode.
 *
 * @packageDocumentation
 */
export { serveHttp, DEFAULT_MAX_BODY_BYTES, type ServeHttpOptions, type HttpServerHandle } from './server.js';
export { etcdNode, etcdEvent, valueString } from './keys.js';
export { etcdStatus } from './etcd-errors.js';
export { ETCD_SERVER_VERSION, ETCD_CLUSTER_VERSION } from './stats.js';
