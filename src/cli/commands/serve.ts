/**
 * `portcullis serve`: the gateway (what `npm start` runs), as one process or as a cluster primary
 * with N workers; `portcullis reseal`: after a master key rotation, seal every stored secret under
 * the first key of PORTCULLIS_MASTER_KEY. Both take the config loader's flags as they are.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig } from '../../config/load.js';
import { isAuditMessage, type AuditMessage } from '../../gateway/audit.js';
import { existingSealer, openStore } from '../../gateway/bootstrap.js';
import { isChangeMessage, type ChangeMessage } from '../../gateway/changes.js';
import { createLogger, errorFields } from '../../gateway/log.js';
import { Gateway, type WorkerRole } from '../../gateway/server.js';
import type { Command } from '../command.js';
import { runPrimary, type ReadyMessage, WORKER_COUNT_ENV, WORKER_ID_ENV } from '../primary.js';

/** Flags that belong to the config loader; passed through to it untouched. */
export const SERVER_FLAGS = ['--data-dir', '--listen', '--config', '--store', '--database-url', '--min-tls', '--region', '--workers'];

/** This process's part when it is one of several workers, from what the primary put in its environment. */
function workerRole(): WorkerRole | undefined {
  if (!cluster.isWorker) return undefined;
  return {
    id: Number(process.env[WORKER_ID_ENV] ?? cluster.worker?.id ?? 1),
    count: Number(process.env[WORKER_COUNT_ENV] ?? 1),
    announce: (change) => process.send?.({ portcullis: 'change', change } satisfies ChangeMessage),
    auditFull: () => process.send?.({ portcullis: 'audit-full' } satisfies AuditMessage),
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
      else if (isAuditMessage(m, 'audit-rotated')) gateway?.auditRotated();
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

/**
 * Runs serve with its historical error handling: a configuration error exits 2, a failed start
 * 1, at once (whatever a half-started gateway left open).
 */
export async function runServe(argv: readonly string[]): Promise<undefined> {
  try {
    await serve(argv);
    return undefined; // the server keeps the process alive
  } catch (e) {
    failed(e);
  }
}

/** `reseal`, with serve's error handling; exit 0 once every secret is resealed. */
export async function runReseal(argv: readonly string[]): Promise<number> {
  try {
    await reseal(argv);
    return 0;
  } catch (e) {
    failed(e);
  }
}

function failed(e: unknown): never {
  if (e instanceof ConfigError) {
    process.stderr.write(`portcullis: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'could not start', ...errorFields(e) }) + '\n');
  process.exit(1);
}

export const serveCommand: Command = {
  path: ['serve'],
  summary: 'Run the gateway: TLS listener, SigV4, IAM, STS and the data plane.',
  usage: '[--data-dir DIR] [--listen HOST:PORT] [--config FILE] [--store URL | --database-url postgres://…] [--min-tls 1.2|1.3] [--region REGION] [--workers N]',
  description: 'Prints `portcullis listening on https://HOST:PORT` when ready. SIGTERM/SIGINT stop gracefully; SIGHUP reloads certificates and the services of the config file.\n--workers N runs N processes on one listener (default: the number of cores).\nFlags are also read from PORTCULLIS_DATA_DIR, PORTCULLIS_LISTEN, PORTCULLIS_CONFIG, PORTCULLIS_STORE, PORTCULLIS_MIN_TLS, PORTCULLIS_WORKERS.',
  examples: [
    'portcullis serve',
    'portcullis serve --data-dir /var/lib/portcullis --listen 0.0.0.0:443 --min-tls 1.3',
    'portcullis serve --database-url postgres://portcullis@db.internal/portcullis --workers 4',
    'PORTCULLIS_LISTEN=127.0.0.1:0 portcullis serve   # any free port',
  ],
  // Handled before option parsing: serve's flags are the config loader's.
  run: async () => undefined,
};

export const resealCommand: Command = {
  path: ['reseal'],
  summary: 'Seal every stored secret under the first key of PORTCULLIS_MASTER_KEY (after a master key rotation).',
  usage: '[--data-dir DIR] [--config FILE] [--store URL | --database-url postgres://…]',
  description: 'Run with PORTCULLIS_MASTER_KEY listing the new key first and the old ones after it; once it says every secret is resealed, the old keys can go. See docs/operations.md.',
  examples: ['PORTCULLIS_MASTER_KEY="$NEW,$OLD" portcullis reseal --data-dir /var/lib/portcullis'],
  run: async () => undefined,
};
