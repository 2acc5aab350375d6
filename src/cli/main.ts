#!/usr/bin/env node
/**
 * `portcullis serve [--data-dir DIR] [--listen HOST:PORT] [--config FILE] [--store URL] [--min-tls 1.2|1.3]`
 */
import { ConfigError, loadConfig } from '../config/load.js';
import { createLogger, errorFields } from '../gateway/log.js';
import { Gateway } from '../gateway/server.js';

const USAGE = `usage: portcullis serve [--data-dir DIR] [--listen HOST:PORT] [--config FILE] [--store URL] [--min-tls 1.2|1.3] [--region REGION]\n`;

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
  process.on('SIGHUP', () => gateway?.reload());
  const reloadConfig = () => loadConfig({ argv, env: process.env, cwd: process.cwd() });
  gateway = await Gateway.start({ config, env: process.env, log, reloadConfig });
  process.stdout.write(`portcullis listening on ${gateway.url}\n`);
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
