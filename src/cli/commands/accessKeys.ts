/** `portcullis access-keys list | create | activate | deactivate | delete | last-used`. */
import type { Command, Invocation } from '../command.js';
import { clientContext } from '../context.js';
import { fields } from '../output.js';
import { arg, done } from './iamShared.js';

const USER = { user: { type: 'string', value: 'NAME', description: 'the key\'s user; default the caller' } } as const;
const userOf = (inv: Invocation) => inv.str('user');

export const accessKeyCommands: Command[] = [
  {
    path: ['access-keys', 'list'],
    summary: 'List a user\'s access keys (never their secrets).',
    usage: '[--user NAME]',
    client: true,
    options: USER,
    examples: ['portcullis access-keys list --user alice'],
    async run(inv) {
      const keys = await clientContext(inv).iam().listAccessKeys(userOf(inv));
      return {
        json: keys.map((k) => ({ UserName: k.userName, AccessKeyId: k.accessKeyId, Status: k.status, CreateDate: k.createDate })),
        table: { columns: ['ACCESS KEY ID', 'STATUS', 'USER', 'CREATED'], rows: keys.map((k) => [k.accessKeyId, k.status, k.userName, k.createDate]) },
      };
    },
  },
  {
    path: ['access-keys', 'create'],
    summary: 'Create an access key. The secret is shown once: store it now.',
    usage: '[--user NAME] [--format table|json|credentials]',
    client: true,
    options: { ...USER, format: { type: 'string', value: 'table|json|credentials', description: 'credentials: a [profile] block for ~/.aws/credentials' } },
    examples: ['portcullis access-keys create --user alice', 'portcullis access-keys create --user ci-bot --format credentials >> ~/.aws/credentials'],
    async run(inv) {
      const k = await clientContext(inv).iam().createAccessKey(userOf(inv));
      const json = { UserName: k.userName, AccessKeyId: k.accessKeyId, SecretAccessKey: k.secretAccessKey, Status: k.status, CreateDate: k.createDate };
      if (inv.str('format') === 'credentials') {
        return { json, raw: true, text: `[${k.userName}]\naws_access_key_id = ${k.accessKeyId}\naws_secret_access_key = ${k.secretAccessKey}\n` };
      }
      if (inv.str('format') === 'json') return { json, raw: true, text: JSON.stringify(json, null, 2) + '\n' };
      return { json, table: fields([['UserName', k.userName], ['AccessKeyId', k.accessKeyId], ['SecretAccessKey', k.secretAccessKey], ['Status', k.status]]), text: '\nThe secret access key is shown only now; store it safely.\n' };
    },
  },
  ...(['activate', 'deactivate'] as const).map((verb): Command => ({
    path: ['access-keys', verb],
    summary: verb === 'activate' ? 'Make an access key Active.' : 'Make an access key Inactive: requests signed with it are refused.',
    usage: 'ACCESS_KEY_ID [--user NAME]',
    client: true,
    options: USER,
    examples: [`portcullis access-keys ${verb} AKIA... --user alice`],
    async run(inv) {
      const id = arg(inv, 0, 'the access key id', `access-keys ${verb}`);
      const status = verb === 'activate' ? 'Active' : 'Inactive';
      await clientContext(inv).iam().updateAccessKey(id, status, userOf(inv));
      return done(`${id} is now ${status}`, { AccessKeyId: id, Status: status });
    },
  })),
  {
    path: ['access-keys', 'delete'],
    summary: 'Delete an access key.',
    usage: 'ACCESS_KEY_ID [--user NAME]',
    client: true,
    options: USER,
    examples: ['portcullis access-keys delete AKIA... --user alice'],
    async run(inv) {
      const id = arg(inv, 0, 'the access key id', 'access-keys delete');
      await clientContext(inv).iam().deleteAccessKey(id, userOf(inv));
      return done(`deleted ${id}`, { AccessKeyId: id, Deleted: true });
    },
  },
  {
    path: ['access-keys', 'last-used'],
    summary: 'When, and for which service, an access key was last used.',
    usage: 'ACCESS_KEY_ID',
    client: true,
    examples: ['portcullis access-keys last-used AKIA...'],
    async run(inv) {
      const id = arg(inv, 0, 'the access key id', 'access-keys last-used');
      const r = await clientContext(inv).iam().getAccessKeyLastUsed(id);
      const json = { AccessKeyId: id, UserName: r.userName, LastUsedDate: r.lastUsedDate ?? null, ServiceName: r.serviceName, Region: r.region };
      return { json, table: fields([['AccessKeyId', id], ['UserName', r.userName], ['LastUsedDate', r.lastUsedDate ?? 'never'], ['ServiceName', r.serviceName], ['Region', r.region]]) };
    },
  },
];
