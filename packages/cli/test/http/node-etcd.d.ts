// The slice of the npm `node-etcd` client (7.x, untyped) that the interop
// test uses.
declare module 'node-etcd' {
  import type { EventEmitter } from 'node:events';

  namespace Etcd {
    interface EtcdNode {
      key?: string;
      value?: string;
      dir?: boolean;
      ttl?: number;
      expiration?: string;
      nodes?: EtcdNode[];
      createdIndex: number;
      modifiedIndex: number;
    }
    interface EtcdResponse {
      action: string;
      node: EtcdNode;
      prevNode?: EtcdNode;
    }
    /** etcd's error body. */
    interface EtcdErrorBody {
      errorCode: number;
      message: string;
      cause?: string;
      index: number;
    }
    /** What the callback gets: an etcd error (errorCode and body) or a transport one (errors per server). */
    interface EtcdError extends Error {
      errorCode?: number;
      error?: EtcdErrorBody;
      errors?: unknown[];
    }
    type Callback = (err: EtcdError | null, body: EtcdResponse, headers: Record<string, string>) => void;
    /** Query fields (ttl, prevValue, prevIndex, prevExist, recursive, sorted, quorum, wait, waitIndex, ...). */
    type Options = Record<string, string | number | boolean>;
    interface CancellationToken {
      abort(): void;
      cancel(): void;
    }
    interface Watcher extends EventEmitter {
      stop(): void;
    }
  }

  class Etcd {
    constructor(hosts?: string | string[], options?: Record<string, unknown>);
    set(key: string, value: string | null, callback: Etcd.Callback): Etcd.CancellationToken;
    set(key: string, value: string | null, options: Etcd.Options, callback: Etcd.Callback): Etcd.CancellationToken;
    get(key: string, callback: Etcd.Callback): Etcd.CancellationToken;
    get(key: string, options: Etcd.Options, callback: Etcd.Callback): Etcd.CancellationToken;
    create(dir: string, value: string, callback: Etcd.Callback): Etcd.CancellationToken;
    del(key: string, callback: Etcd.Callback): Etcd.CancellationToken;
    del(key: string, options: Etcd.Options, callback: Etcd.Callback): Etcd.CancellationToken;
    mkdir(dir: string, callback: Etcd.Callback): Etcd.CancellationToken;
    rmdir(dir: string, callback: Etcd.Callback): Etcd.CancellationToken;
    rmdir(dir: string, options: Etcd.Options, callback: Etcd.Callback): Etcd.CancellationToken;
    compareAndSwap(key: string, value: string, oldValue: string, callback: Etcd.Callback): Etcd.CancellationToken;
    compareAndDelete(key: string, oldValue: string, callback: Etcd.Callback): Etcd.CancellationToken;
    watch(key: string, callback: Etcd.Callback): Etcd.CancellationToken;
    watch(key: string, options: Etcd.Options, callback: Etcd.Callback): Etcd.CancellationToken;
    watchIndex(key: string, index: number, callback: Etcd.Callback): Etcd.CancellationToken;
    watchIndex(key: string, index: number, options: Etcd.Options, callback: Etcd.Callback): Etcd.CancellationToken;
    watcher(key: string, index?: number | null, options?: Etcd.Options): Etcd.Watcher;
  }

  export = Etcd;
}
