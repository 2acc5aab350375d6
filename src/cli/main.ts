#!/usr/bin/env node
/**
 * `portcullis serve [--data-dir DIR] [--listen HOST:PORT] [--config FILE] [--store URL] [--min-tls 1.2|1.3] [--workers N]`
 * `portcullis reseal [--data-dir DIR] [--config FILE] [--store URL]`: after a master key rotation,
 * seal every stored secret under the first key of PORTCULLIS_MASTER_KEY.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig } from '../config/load.js';
import { existingSealer, openStore } from '../gateway/bootstrap.js';
import { createLogger, errorFields } from '../gateway/log.js';
import { Gateway, type WorkerRole } from '../gateway/server.js';
import type { AuditMessage } from '../gateway/audit.js';
import { isChangeMessage, type ChangeMessage } from '../gateway/changes.js';
import { runPrimary, type ReadyMessage, WORKER_COUNT_ENV, WORKER_ID_ENV } from './primary.js';

const USAGE = `usage: portcullis serve [--data-dir DIR] [--listen HOST:PORT] [--config FILE] [--store URL | --database-url postgres://…] [--min-tls 1.2|1.3] [--region REGION] [--workers N]
       portcullis reseal [--data-dir DIR] [--config FILE] [--store URL | --database-url postgres://…]\n`;

/** Re-seals every secret under the current master key, so that older keys can be dropped. */
async function reseal(argv: readonly string[]): Promise<void> {
  const config = loadConfig({ argv, env: process.env, cwd: process.cwd() });
  const sealer = existingSealer(config.dataDir, process.env);
  const store = await openStore(config, sealer);
  try {
    const n = await store.resealSecrets();
    process.stdout.write(`resealed ${n} secret${n === 1 ? '' : 's'}; every secret is now sealed under master key ${sealer.currentKeyId}\n`);
  } finally {
    await store.close();
  }
}

/** This process's part when it is one of several workers, from what the primary put in its environment. */
function workerRole(): WorkerRole | undefined {
  if (!cluster.isWorker) return undefined;
  return {
    id: Number(process.env[WORKER_ID_ENV] ?? cluster.worker?.id ?? 1),
    count: Number(process.env[WORKER_COUNT_ENV] ?? 1),
    announce: (change) => process.send?.({ portcullis: 'change', change } satisfies ChangeMessage),
    forwardAudit: (lines) => new Promise<void>((resolve, reject) => {
      if (process.send === undefined) return resolve();
      process.send({ portcullis: 'audit', lines } satisfies AuditMessage, undefined, {}, (e: Error | null) => (e ? reject(e) : resolve()));
    }),
  };
}

async function serve(argv: readonly string[]): Promise<void> {
  const config = loadConfig({ argv, env: process.env, cwd: process.cwd() });
  const log = createLogger(config.log.level);
  const workers = config.workers === 0 ? availableParallelism() : config.workers;
  if (cluster.isPrimary && workers > 1) return runPrimary(config, workers, log);
  const worker = workerRole();
  // Signals are ours from the start: one that arrives while starting waits for the start to
  // finish and then shuts down cleanly, instead of killing a half-started process.
  let gateway: Gateway | undefined;
  let stopping: string | undefined;
  const stop = (signal: string) => {
    if (stopping !== undefined) return;
    stopping = signal;
    if (gateway === undefined) return; // picked up once the start is done
    log.info('shutting down', { signal, ...(worker === undefined ? {} : { worker: worker.id }) });
    gateway.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error('shutdown failed', errorFields(e));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => gateway?.reload());
  if (worker !== undefined) {
    // Changes a sibling made reach this worker's caches at once; a worker whose primary is
    // gone (killed) has no one to answer to and stops.
    process.on('message', (m: unknown) => {
      if (isChangeMessage(m)) gateway?.applyChange(m.change);
    });
    process.on('disconnect', () => stop('disconnect'));
  }
  const reloadConfig = () => loadConfig({ argv, env: process.env, cwd: process.cwd() });
  gateway = await Gateway.start({ config, env: process.env, log, worker, reloadConfig });
  if (worker === undefined) process.stdout.write(`portcullis listening on ${gateway.url}\n`);
  else process.send?.({ portcullis: 'ready', url: gateway.url } satisfies ReadyMessage);
  if (stopping !== undefined) {
    const signal = stopping;
    stopping = undefined;
    stop(signal);
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'reseal':
      return reseal(rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`portcullis: unknown command \`${command}\`\n${USAGE}`);
      process.exitCode = 2;
  }
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`portcullis: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'could not start', ...errorFields(e) }) + '\n');
  process.exit(1);
});
