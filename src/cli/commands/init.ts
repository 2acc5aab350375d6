/** `portcullis init`: create a data dir (keys, certificate, account, admin) without serving. */
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../config/load.js';
import { bootstrap, layout } from '../../gateway/bootstrap.js';
import { createLogger } from '../../gateway/log.js';
import type { Command } from '../command.js';
import { UsageError } from '../exit.js';
import { fields } from '../output.js';

export const initCommand: Command = {
  path: ['init'],
  summary: 'Create a data dir (master key, certificate, account, admin user and its credentials) without serving.',
  usage: '[--data-dir DIR] [--store URL] [--config FILE]',
  description: 'Idempotent: an existing data dir is checked and reused. Nothing secret is printed; the admin key is in DIR/credentials (mode 0600).',
  options: {
    'data-dir': { type: 'string', value: 'DIR', description: 'where (or PORTCULLIS_DATA_DIR); default ./.portcullis' },
    store: { type: 'string', value: 'URL', description: 'sqlite:PATH (or PORTCULLIS_STORE); default sqlite:DIR/portcullis.db' },
    config: { type: 'string', value: 'FILE', description: 'a JSON config file (or PORTCULLIS_CONFIG)' },
  },
  examples: ['portcullis init', 'portcullis init --data-dir /var/lib/portcullis --output json'],
  async run(inv) {
    const argv: string[] = [];
    for (const f of ['data-dir', 'store', 'config']) {
      const v = inv.str(f);
      if (v !== undefined) argv.push(`--${f}`, v);
    }
    let config;
    try {
      config = loadConfig({ argv, env: inv.io.env, cwd: inv.io.cwd });
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message, 'init');
      throw e;
    }
    inv.progress(`initializing ${config.dataDir} (the first time, key and certificate generation takes a moment)`);
    const b = await bootstrap(config, inv.io.env, createLogger('warn'));
    await b.store.close();
    const l = layout(config.dataDir);
    const json = { dataDir: config.dataDir, account: b.accountId, adminAccessKeyId: b.adminAccessKeyId, credentialsFile: l.credentials, profile: 'portcullis', caBundle: l.certBundle };
    return {
      json,
      table: fields([['data dir', json.dataDir], ['account', json.account], ['admin access key', json.adminAccessKeyId], ['credentials file', `${json.credentialsFile} [portcullis]`], ['CA bundle', json.caBundle]]),
      text: `\nNext: portcullis serve --data-dir ${config.dataDir}\n      portcullis sts whoami --data-dir ${config.dataDir}   # uses ${join(config.dataDir, 'credentials')}\n`,
    };
  },
};
