/**
 * @kv/cli — etcd v2-compatible HTTP client API (`serveHttp`); `kvd` and `kvctl` come later.
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
