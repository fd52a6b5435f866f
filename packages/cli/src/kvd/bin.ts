#!/usr/bin/env node
// kvd: the kv daemon, configured like the etcd of the seeds (flags, KV_* /
// ETCD_* environment variables, a YAML --config-file). SIGTERM and SIGINT
// stop it cleanly; SIGKILL loses nothing acknowledged (the data dir is
// fsynced before any write is acknowledged).
import { KvdConfigError, usage } from './config.js';
import { etcdStyleLogger, startKvd } from './run.js';
import { versionText } from './version.js';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(usage() + '\n');
  process.exit(0);
}
if (argv.includes('--version') || argv.includes('-version')) {
  process.stdout.write(versionText());
  process.exit(0);
}
const logger = etcdStyleLogger();
try {
  const kvd = await startKvd(argv, process.env, logger);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`kvd: received ${signal}, shutting down`);
    kvd.close().then(
      () => process.exit(0),
      (e: unknown) => {
        logger.error(`kvd: error while shutting down: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('terminated'));
  process.on('SIGINT', () => stop('interrupt'));
  kvd.node.on('removed', () => setTimeout(() => process.exit(0), 100));
} catch (e) {
  if (e instanceof KvdConfigError) logger.error(`kvd: ${e.message}`);
  else logger.error(`kvd: ${(e as Error).message}`);
  process.exit(1);
}
