/**
 * `--workers N`: one node as N processes sharing one listener (node:cluster, connections handed
 * out round-robin by this primary process).
 *
 * What must be shared, and how:
 * - first-start state (master key, certificates, identity key, account, administrator, the first
 *   session-token key) is made here, once, before any worker starts, so workers only find it;
 * - the store: each worker opens its own (SQLite in WAL mode takes several processes; PostgreSQL
 *   pools are per process);
 * - cached credentials and policies: a change one worker makes is relayed by this primary to
 *   the others at once (and, with PostgreSQL, reaches every node by LISTEN/NOTIFY anyway);
 * - the audit file: every worker appends its batches of lines to `audit/audit.log` itself, and
 *   this process alone rotates it, when a worker says it is full, then has them all reopen it;
 * - metrics: per worker (a scrape sees the worker that answered it).
 *
 * The primary prints the ready line once every worker listens, forwards SIGTERM/SIGINT (graceful
 * stop) and SIGHUP (reload of certificates and services) to them, and replaces a worker that dies while serving.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/schema.js';
import { systemClock } from '../core/clock.js';
import { bootstrap } from '../gateway/bootstrap.js';
import { isAuditMessage, rotateWhenFull, type AuditMessage } from '../gateway/audit.js';
import { layout } from '../gateway/bootstrap.js';
import { isChangeMessage } from '../gateway/changes.js';
import { errorFields, type Logger } from '../gateway/log.js';
import { TokenKeyRing } from '../gateway/tokenKeys.js';

export const WORKER_ID_ENV = 'PORTCULLIS_WORKER_ID';
export const WORKER_COUNT_ENV = 'PORTCULLIS_WORKER_COUNT';

export interface ReadyMessage {
  readonly portcullis: 'ready';
  readonly url: string;
}

function isReady(m: unknown): m is ReadyMessage {
  return typeof m === 'object' && m !== null && (m as { portcullis?: unknown }).portcullis === 'ready' && typeof (m as { url?: unknown }).url === 'string';
}

/** More deaths than this (per worker) within a minute is a crash loop: stop instead of restarting. */
const DEATHS_PER_WORKER_PER_MINUTE = 3;

export async function runPrimary(config: Config, count: number, log: Logger): Promise<void> {
  const first = await bootstrap(config, process.env, log);
  try {
    await new TokenKeyRing(first.store, first.sealer, systemClock, log).refresh();
  } finally {
    await first.store.close();
  }

  const workers = new Map<number, Worker>(); // by our worker id, 1..count
  const auditDir = layout(config.dataDir).auditDir;
  const rotateAudit = (): void => {
    try {
      if (!rotateWhenFull(auditDir, config.audit)) return;
    } catch (e) {
      log.error('cannot rotate the audit log', errorFields(e)); // the workers ask again
      return;
    }
    for (const w of workers.values()) if (w.isConnected()) w.send({ portcullis: 'audit-rotated' } satisfies AuditMessage);
  };
  /** Once every worker is gone: each wrote its last audit lines itself before it exited. */
  const finish = (): void => process.exit();
  const deaths: number[] = [];
  let stopping = false;
  let ready = false;
  const readyIds = new Set<number>();

  const fork = (id: number): void => {
    const w = cluster.fork({ [WORKER_ID_ENV]: String(id), [WORKER_COUNT_ENV]: String(count) });
    workers.set(id, w);
    w.on('message', (m: unknown) => {
      if (isAuditMessage(m, 'audit-full')) {
        rotateAudit();
      } else if (isChangeMessage(m)) {
        for (const [other, ow] of workers) if (other !== id && ow.isConnected()) ow.send(m);
      } else if (isReady(m)) {
        readyIds.add(id);
        if (!ready && readyIds.size === count) {
          ready = true;
          process.stdout.write(`portcullis listening on ${m.url}\n`);
        }
      }
    });
    w.on('exit', (code, signal) => {
      if (workers.get(id) === w) workers.delete(id);
      if (stopping) {
        if (workers.size === 0) finish();
        return;
      }
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && deaths[0]! < now - 60_000) deaths.shift();
      // A worker that fails before the node is ready, or keeps failing, would only fail again.
      if (!ready || deaths.length > DEATHS_PER_WORKER_PER_MINUTE * count) {
        log.error('worker failed; stopping', { worker: id, code, signal });
        stopAll('worker-failed', 1);
        return;
      }
      log.warn('worker died; starting another', { worker: id, code, signal });
      fork(id);
    });
  };

  const stopAll = (signal: string, exitCode = 0): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal, workers: workers.size });
    if (exitCode !== 0) process.exitCode = exitCode;
    if (workers.size === 0) finish();
    for (const w of workers.values()) w.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));
  process.on('SIGHUP', () => {
    for (const w of workers.values()) w.process.kill('SIGHUP');
  });
  process.on('uncaughtException', (e) => {
    log.error('primary failed', errorFields(e));
    stopAll('error', 1);
  });

  for (let id = 1; id <= count; id++) fork(id);
}
