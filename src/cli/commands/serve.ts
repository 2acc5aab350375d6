/** `portcullis serve`: the gateway (what `npm start` runs). */
import { ConfigError, loadConfig } from '../../config/load.js';
import { createLogger, errorFields } from '../../gateway/log.js';
import { Gateway } from '../../gateway/server.js';
import type { Command } from '../command.js';

/** Flags that belong to the config loader; passed through to it untouched. */
export const SERVER_FLAGS = ['--data-dir', '--listen', '--config', '--store', '--min-tls', '--region'];

async function serve(argv: readonly string[]): Promise<void> {
  const config = loadConfig({ argv, env: process.env, cwd: process.cwd() });
  const log = createLogger(config.log.level);
  // Signals are ours from the start: one that arrives while starting waits for the start to
  // finish and then shuts down cleanly, instead of killing a half-started process.
  let gateway: Gateway | undefined;
  let stopping: string | undefined;
  const stop = (signal: string) => {
    if (stopping !== undefined) return;
    stopping = signal;
    if (gateway === undefined) return; // picked up once the start is done
    log.info('shutting down', { signal });
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
  process.on('SIGHUP', () => gateway?.reloadTls());
  gateway = await Gateway.start({ config, env: process.env, log });
  process.stdout.write(`portcullis listening on ${gateway.url}\n`);
  if (stopping !== undefined) {
    const signal = stopping;
    stopping = undefined;
    stop(signal);
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
    if (e instanceof ConfigError) {
      process.stderr.write(`portcullis: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'could not start', ...errorFields(e) }) + '\n');
    process.exit(1);
  }
}

export const serveCommand: Command = {
  path: ['serve'],
  summary: 'Run the gateway: TLS listener, SigV4, IAM, STS and the data plane.',
  usage: '[--data-dir DIR] [--listen HOST:PORT] [--config FILE] [--store URL] [--min-tls 1.2|1.3] [--region REGION]',
  description: 'Prints `portcullis listening on https://HOST:PORT` when ready. SIGTERM/SIGINT stop gracefully, SIGHUP reloads certificates.\nFlags are also read from PORTCULLIS_DATA_DIR, PORTCULLIS_LISTEN, PORTCULLIS_CONFIG, PORTCULLIS_STORE, PORTCULLIS_MIN_TLS.',
  examples: [
    'portcullis serve',
    'portcullis serve --data-dir /var/lib/portcullis --listen 0.0.0.0:443 --min-tls 1.3',
    'PORTCULLIS_LISTEN=127.0.0.1:0 portcullis serve   # any free port',
  ],
  // Handled before option parsing: serve's flags are the config loader's.
  run: async () => undefined,
};
